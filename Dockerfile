# One image, three entry points: iris-train (the training Job), iris-serve (the API Deployment,
# the default) and iris-batch (the scoring CronJob). Only the `service` package is installed:
# the terminal UI and the simulated cluster stay out of the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: wheels for the package and every dependency of its `service` extra.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the wheel needs; .dockerignore keeps everything else out of the context too.
COPY pyproject.toml README.md ./
COPY service/ service/
# The wheel set is exactly what `.[service]` resolved to; listing it pins every version.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[service]" \
    && find /wheels -name "*.whl" > /wheels/requirements.txt

# Runtime stage: no compilers, no sources, no build tools; runs as a non-root user.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="iris-ml" \
      org.opencontainers.image.description="Train, serve and batch-score a scikit-learn Iris classifier" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode is compiled at install time, so nothing is written under a read-only root; the
# only writable places are the volumes (/models, /data) and the /tmp emptyDir.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp
# The wheel also declares iris-tui and iris-sandbox, whose packages stay out of the image:
# their scripts go, so running one says "not found" instead of printing an ImportError.
# The dependencies' own test suites and their C, C++ and Cython sources and headers are never
# run or read by the service (about 95 MB of the 500 MB they install), so they go too.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --requirement /wheels/requirements.txt \
    && rm /usr/local/bin/iris-tui /usr/local/bin/iris-sandbox \
    && site=$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && find "$site" -type d -name tests -prune -exec rm -rf {} + \
    && find "$site" -type d -name include -prune -exec rm -rf {} + \
    && find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.h' \
         -o -name '*.hpp' -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' \) -delete \
    && mkdir -p /models /data/input /data/output \
    && chown -R 10001:10001 /models /data
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
CMD ["iris-serve"]
