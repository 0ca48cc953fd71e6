# Control Tower's processes (tower serve, writer, correlator, slo, dashboard) in one image.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Everything but what .dockerignore leaves out (virtualenvs, stores, tests, benchmarks).
COPY . .
RUN pip install --no-cache-dir . && useradd --create-home tower
USER tower
EXPOSE 8000
CMD ["tower", "serve", "--host", "0.0.0.0"]
