# The Dockerfile a person would write for tests/apps/flask on the same
# base, for scripts/bench/builder: dependencies first, a pip cache mount.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv && rm -rf /var/lib/apt/lists/*
ARG BERTH_CA_BUNDLE
COPY ${BERTH_CA_BUNDLE} /etc/ca-bundle.crt
RUN python3 -m venv /venv
COPY requirements.txt /app/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip PIP_CERT=/etc/ca-bundle.crt /venv/bin/pip install -r /app/requirements.txt
COPY . /app
WORKDIR /app
ENV PATH=/venv/bin:$PATH
EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "app:app"]
