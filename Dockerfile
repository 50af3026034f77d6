# plugpay-router: slim Python, non-root, the SQLite store on a volume, health checked on /healthz.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY router ./router
COPY connectors ./connectors
RUN pip install . && useradd --system --uid 10001 --home /var/lib/plugpay-router router \
    && mkdir -p /var/lib/plugpay-router /etc/plugpay-router \
    && chown router /var/lib/plugpay-router

USER router
VOLUME ["/var/lib/plugpay-router"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["plugpay-router"]
CMD ["serve", "-c", "/etc/plugpay-router/config.yaml"]
