# plugpay-router: slim Python, non-root, the SQLite store on a volume, health checked on /healthz.
#   docker build -t plugpay-router .
#   docker run --rm plugpay-router demo                       # the example shop against local stand-ins
#   mkdir shop && docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/shop:/shop" plugpay-router init /shop
#                                                             # a shop folder: config, templates, env, rule tests
#   (fill in shop/env: every line says where its value comes from; `check` refuses the placeholders)
#   docker run -d -p 8080:8080 -v "$PWD/shop:/etc/plugpay-router:ro" -v router-data:/var/lib/plugpay-router \
#     --env-file shop/env plugpay-router                       # serve -c /etc/plugpay-router/config.yaml
# Step by step: docs/operating.md, "Running in Docker".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY router ./router
COPY connectors ./connectors
COPY toolkit ./toolkit
RUN pip install . && rm -rf /app \
    && useradd --system --uid 10001 --home-dir /var/lib/plugpay-router --no-create-home router \
    && mkdir -p /var/lib/plugpay-router /etc/plugpay-router \
    && chown router /var/lib/plugpay-router

USER router
WORKDIR /var/lib/plugpay-router
VOLUME ["/var/lib/plugpay-router"]
EXPOSE 8080
# /healthz on the default listen address; set ROUTER_HEALTH_URL when the config listens elsewhere.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(os.environ.get('ROUTER_HEALTH_URL', 'http://127.0.0.1:8080/healthz'), timeout=2)"
# SIGTERM drains: in-flight deliveries finish (give it time: docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["plugpay-router"]
CMD ["serve", "-c", "/etc/plugpay-router/config.yaml"]
