# geosteer in a container: a release build, then a small runtime image with the shipped example
# (zones/ and geodata/) as its default data. Runs as an unprivileged user on port 5353 (map it to
# 53 outside: `docker run -p 53:5353/udp -p 53:5353/tcp`), with the admin endpoint on 9153.
#
#   docker build -t geosteer .
#   docker run --rm -p 5353:5353/udp -p 5353:5353/tcp -p 9153:9153 geosteer
#   dig @127.0.0.1 -p 5353 www.example.com +subnet=202.232.0.0/24
#
# Your own data: mount it and point the server at it, e.g.
#   docker run -v /srv/dns:/etc/geosteer:ro geosteer serve --config /etc/geosteer/geosteer.toml

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
# the country and continent tables are compiled in (geo::countries)
COPY geodata geodata
RUN cargo build --release --locked --bin geosteer

FROM debian:bookworm-slim
RUN useradd --system --uid 10053 --home-dir /nonexistent --shell /usr/sbin/nologin geosteer
COPY --from=build /src/target/release/geosteer /usr/local/bin/geosteer
COPY zones /usr/share/geosteer/zones
COPY geodata /usr/share/geosteer/geodata
COPY dist/geosteer-alerts.yml dist/grafana-dashboard.json /usr/share/geosteer/
USER geosteer
EXPOSE 5353/udp 5353/tcp 9153/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["geosteer", "ping", "--http", "127.0.0.1:9153"]
ENTRYPOINT ["geosteer"]
CMD ["serve", "--zones", "/usr/share/geosteer/zones", \
     "--geoip", "/usr/share/geosteer/geodata/dbip-country.mmdb", \
     "--listen", "0.0.0.0:5353", "--http", "0.0.0.0:9153"]
