# syntax=docker/dockerfile:1
# One image for every service: `docker run IMAGE evaluator|evolver [flags]` runs
# `neatai serve <service> [flags]` as a non-root user on a read-only root filesystem.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: compiles the Cython kernels and generates the gRPC API into a wheel ------------
FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused until the pins change.
COPY requirements.txt ./
RUN python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY pyproject.toml setup.py README.md ./
COPY protos ./protos
COPY shared ./shared
COPY services ./services
COPY app ./app
# The build backend pins Cython, numpy and grpcio-tools (pyproject [build-system]).
RUN /venv/bin/pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels . \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /wheels/neatai-*.whl \
 && /venv/bin/python -c "import neatai.v1.evaluator_pb2, neatai.evaluator.forward, neatai.app.cli, neatai.genome.operators"

# ---- runtime: the virtual environment only, no compiler --------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 neatai \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin neatai
COPY --from=builder /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
# Checkpoints (evolver) live on a mounted volume; /tmp is the only other writable path.
WORKDIR /var/lib/neatai
USER 10001:10001
# evaluator gRPC/metrics, evolver gRPC/metrics
EXPOSE 50051 9464 50052 9465
ENTRYPOINT ["neatai", "serve"]
CMD ["evaluator"]
