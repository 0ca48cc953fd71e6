# Control Tower's processes (tower serve, writer, correlator, slo, dashboard) in one image.
# The build stage has a C compiler, for the compiled speedups (setup.py, tower/compiled.py); the
# image installs the wheels it built and carries no compiler.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything but what .dockerignore leaves out (virtualenvs, stores, local builds, tests, benchmarks).
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels control-tower && rm -rf /wheels \
    && useradd --create-home tower
USER tower
WORKDIR /home/tower
EXPOSE 8000
CMD ["tower", "serve", "--host", "0.0.0.0"]
