# Control Tower's processes (tower serve, writer, correlator, slo, dashboard) in one image.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY tower tower
COPY collector collector
COPY correlator correlator
COPY slo slo
COPY dashboard dashboard
COPY adapters adapters
RUN pip install --no-cache-dir .
RUN useradd --create-home tower
USER tower
EXPOSE 8000
CMD ["tower", "serve", "--host", "0.0.0.0"]
