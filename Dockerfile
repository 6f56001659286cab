# regdeploy as a container image.
#
#   docker build -t regdeploy:local .
#   docker run -d --name regdeploy -p 8080:8080 \
#     -e DATABASE_URL=postgresql://regdeploy:PASSWORD@db.internal:5432/regdeploy \
#     -e REGDEPLOY_REGISTRY_TOKEN=... -e REGDEPLOY_HARBOR_TOKEN=... -e REGDEPLOY_API_TOKEN=... \
#     -v "$PWD/config.yaml:/etc/regdeploy/config.yaml:ro" \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     regdeploy:local
#
# regdeploy listens on every interface of the container, so it refuses to start while a token of
# the example configuration (dev-...-token) is in use: set the REGDEPLOY_*_TOKEN variables.
# regdeploy runs as the unprivileged user regdeploy (uid and gid 10001). To move Swarm services
# or containers it needs the Docker socket mounted and the socket's group, whose id differs from
# host to host: add it to the container (`docker run --group-add GID`). docker-compose.yml sets
# `user: 10001:${DOCKER_GID}` instead, because `docker stack deploy` refuses `group_add`.

# Build the wheel in a stage of its own: the final image gets the installed package only.
FROM python:3.11-slim AS build
WORKDIR /src
# receiver/store/schema.sql is a symlink to ../../schema.sql. COPY keeps it a symlink, so the
# top-level schema.sql comes along; setuptools follows the link and puts the file itself into the
# wheel (package-data "*.sql" of receiver.store). README.md is the project's readme metadata.
COPY pyproject.toml README.md schema.sql ./
COPY receiver ./receiver
COPY handlers ./handlers
COPY deployers ./deployers
COPY notifiers ./notifiers
RUN PIP_ROOT_USER_ACTION=ignore pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# REGDEPLOY_HOST: a configuration written like config.example.yaml (host:
# ${REGDEPLOY_HOST:-127.0.0.1}) listens on every interface of the container, where a published
# port reaches it. REGDEPLOY_CONFIG: the file every subcommand reads without --config
# (`docker exec regdeploy regdeploy check-config`).
ENV REGDEPLOY_HOST=0.0.0.0 \
    REGDEPLOY_CONFIG=/etc/regdeploy/config.yaml
RUN groupadd --system --gid 10001 regdeploy \
    && useradd --system --uid 10001 --gid regdeploy --no-log-init \
        --create-home --home-dir /var/lib/regdeploy --shell /usr/sbin/nologin regdeploy
COPY --from=build /wheels /tmp/wheels
# The last step fails the build when the installed package cannot find its schema.
RUN pip install /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && python -c "from receiver.store import schema_sql; assert 'CREATE TABLE' in schema_sql()"

# A relative database.data_dir (the embedded PostgreSQL, used when no database.url is set) lands
# here, in the home directory of regdeploy, which it may write.
WORKDIR /var/lib/regdeploy
USER 10001:10001
EXPOSE 8080
# /healthz answers 200 while the database answers, 503 otherwise (urlopen raises on 503). The
# port is server.port of the configuration: change both together. No proxy for loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["regdeploy"]
CMD ["serve", "--config", "/etc/regdeploy/config.yaml"]
