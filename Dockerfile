# stoa-reconciler: slim Python base, non-root user, `reconciler` as the entrypoint.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 reconciler
COPY --from=build /install /usr/local
# examples/repo is a symlink into the package (the demo reads it from there): copy what it points to
COPY examples/deploy /opt/stoa-reconciler/examples/deploy
COPY reconciler/examples/repo /opt/stoa-reconciler/examples/repo
USER reconciler
WORKDIR /home/reconciler
ENV PYTHONUNBUFFERED=1
# The daemon's default port, as in examples/deploy; in a container it must listen beyond loopback.
ENV RECONCILER_HOST=0.0.0.0 RECONCILER_PORT=8080
EXPOSE 8080
ENTRYPOINT ["reconciler"]
CMD ["--help"]
