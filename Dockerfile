# damsync container image: `damsync run` as a non-root user, configured by a mounted TOML file.
#
#   docker build -t damsync .
#   buildah bud --layers --format docker -t damsync .      (see docs/deployment.md)
#
# The base is a build argument so the same file builds on python:3.12-slim and on a plain
# Debian base whose python3 lacks venv/pip (those are installed from Debian when missing).
# Dependencies come from constraints.txt, which pins every package.
ARG PYTHON_IMAGE=python:3.12-slim

# --- build: a virtualenv holding damsync and its pinned dependencies ------------------------
FROM ${PYTHON_IMAGE} AS build
# Package indexes reach pip through the environment (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL,
# PIP_FIND_LINKS, PIP_CERT): pass --build-arg to point pip at a mirror. Empty means PyPI.
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_FIND_LINKS=
ARG PIP_CERT=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120
SHELL ["/bin/sh", "-eu", "-c"]
# python:*-slim ships venv and pip; Debian's python3 needs python3-venv (and python3-pip).
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
        apt-get update -q; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            python3-venv python3-pip; \
        rm -rf /var/lib/apt/lists/*; \
    fi
RUN python3 -m venv /opt/damsync
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when the pins change.
COPY pyproject.toml constraints.txt ./
# Unset empty pip variables first: pip would read an empty PIP_INDEX_URL as an index.
RUN for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CERT; do \
        eval "[ -n \"\${$v:-}\" ] || unset $v"; \
    done; \
    python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt; \
    /opt/damsync/bin/pip install -q -c constraints.txt -r requirements.txt
COPY README.md ./
COPY daemon ./daemon
COPY migrations ./migrations
RUN for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CERT; do \
        eval "[ -n \"\${$v:-}\" ] || unset $v"; \
    done; \
    /opt/damsync/bin/pip install -q --no-deps -c constraints.txt . ; \
    /opt/damsync/bin/pip check; \
    /opt/damsync/bin/damsync --version

# --- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
SHELL ["/bin/sh", "-eu", "-c"]
# A fixed uid/gid, so volumes and Kubernetes securityContext can name it.
ARG DAMSYNC_UID=10001
RUN groupadd --gid "${DAMSYNC_UID}" damsync; \
    useradd --uid "${DAMSYNC_UID}" --gid damsync --home-dir /var/lib/damsync \
        --no-create-home --shell /usr/sbin/nologin damsync; \
    mkdir -p /etc/damsync /var/lib/damsync /usr/share/damsync; \
    chown damsync:damsync /var/lib/damsync
COPY --from=build /opt/damsync /opt/damsync
# The example configuration and the PIM simulator's seed (for the compose `try` profile).
COPY config/damsync.example.toml config/sim/pim-seed.json /usr/share/damsync/
ENV PATH=/opt/damsync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAMSYNC_CONFIG=/etc/damsync/damsync.toml \
    DAMSYNC_SERVER__HOST=0.0.0.0 \
    DAMSYNC_SERVER__PORT=9180
# The state: the default store URL sqlite:///damsync.db is relative to this directory: mount a
# volume here (-v damsync-state:/var/lib/damsync). No VOLUME instruction: it would create an
# anonymous volume that hides where the state lives and that derived images cannot change.
# Use PostgreSQL with DAMSYNC_STORE__URL (and DAMSYNC_DATABASE_URL for `db upgrade`).
WORKDIR /var/lib/damsync
EXPOSE 9180
USER ${DAMSYNC_UID}:${DAMSYNC_UID}
# /healthz answers while the event loop is alive. No curl in the image: python3 does it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DAMSYNC_SERVER__PORT', '9180') + '/healthz', timeout=4).close()"]
# Exec form: damsync is PID 1 and gets SIGTERM itself (runtime.shutdown_grace, default 8 s,
# stays below Docker's 10 s stop timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["damsync"]
CMD ["run"]
