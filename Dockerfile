# syntax=docker/dockerfile:1
# The agentdash daemon as an image: the wheel is built in one stage and installed into a slim
# Python in the next, so the image holds no compiler, no source tree and no build cache.
#
#   docker build -t agentdash:0.1.0 .
#
# deploy/deployment.yaml runs it as UID 10001 with a read-only root filesystem and an emptyDir
# on /tmp: nothing here writes anywhere else (tests/test_dockerfile.py checks both files agree).

ARG PYTHON=python:3.11-slim-bookworm

FROM ${PYTHON} AS build
WORKDIR /src
COPY . .
# Every dependency as a wheel too, so the runtime stage installs with no index and no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON}
# A fixed numeric UID, so `runAsNonRoot: true` can verify it is not root without a passwd lookup.
RUN groupadd --gid 10001 agentdash \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin agentdash
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels agentdash
# The root filesystem is read-only: bytecode was compiled at install time, and anything a
# library might write (a home directory, XDG state or cache) lands in the /tmp emptyDir.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_STATE_HOME=/tmp/state \
    XDG_CACHE_HOME=/tmp/cache
USER 10001:10001
EXPOSE 9090
ENTRYPOINT ["agentdash", "--controller-only", "--config", "/etc/agentdash/agentdash.yaml", "--http", ":9090"]
