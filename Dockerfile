# Multi-stage build of the `lakeseal` binary (key core, stage, simulator, lake tools).
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev \
    libcurl4-openssl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lakeseal-cli && cp target/release/lakeseal /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 libcurl4 \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 lakeseal
COPY --from=build /usr/local/bin/lakeseal /usr/local/bin/lakeseal
USER lakeseal
ENTRYPOINT ["lakeseal"]
