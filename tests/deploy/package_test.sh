#!/usr/bin/env bash
# The Debian package, built from this build tree as scripts/package builds it: lintian finds no
# error, systemd-analyze accepts its unit, and the packaged herald, unpacked into a temporary
# root, starts with the packaged flag file and answers /readyz.
# Usage: package_test.sh <build dir>
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
herald_pid=
cleanup() {
  [[ -n $herald_pid ]] && kill -KILL "$herald_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >/dev/null) || fail "cpack could not build the package"
deb=$(ls "$work"/out/herald_*_amd64.deb) || fail "no herald_<version>_amd64.deb"
echo "built $(basename "$deb")"

# What is in it.
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/herald ./usr/bin/herald-publish ./usr/bin/herald-admin \
    ./usr/share/herald/web/herald.js ./lib/systemd/system/herald.service \
    ./etc/herald/herald.flags ./usr/share/doc/herald/copyright; do
  grep -q " $path\$" <<<"$contents" || fail "$path is not in the package"
done
[[ $(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) == "/etc/herald/herald.flags" ]] ||
  fail "/etc/herald/herald.flags is not a conffile"
# The unit is enabled and started on install, restarted on upgrade, stopped before removal.
for script in postinst prerm postrm; do
  body=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$script") || fail "no $script"
  sh -n <<<"$body" || fail "$script does not parse"
  grep -q "herald.service" <<<"$body" || fail "$script does not handle herald.service"
done
depends=$(dpkg-deb --field "$deb" Depends)
for library in libgrpc++ libprotobuf libssl init-system-helpers; do
  grep -q "$library" <<<"$depends" || fail "Depends ($depends) does not name $library"
done

# lintian: warnings may stand, errors may not.
lintian_output=$(lintian --no-tag-display-limit "$deb" 2>&1 || true)
echo "$lintian_output"
if grep -q '^E: ' <<<"$lintian_output"; then fail "lintian reports errors"; fi

# The unit, as systemd reads it, with the packaged binary where it names it.
mkdir -p "$work/root"
dpkg-deb -x "$deb" "$work/root"
unit="$work/root/lib/systemd/system/herald.service"
for setting in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict LimitNOFILE=; do
  grep -q "^$setting" "$unit" || fail "the unit lacks $setting"
done
grep -q '^AmbientCapabilities=$' "$unit" || fail "the unit grants capabilities by default"
sed "s|/usr/bin/herald|$work/root/usr/bin/herald|" "$unit" > "$work/herald.service"
verify=$(systemd-analyze verify "$work/herald.service" 2>&1) || fail "systemd-analyze verify: $verify"
if grep -v "Failed to \(connect\|prepare\)\|^$" <<<"$verify" | grep -i "herald.service" >/dev/null; then
  fail "systemd-analyze verify: $verify"
fi

# The packaged binary with the packaged flags (ports moved to free ones) until /readyz answers.
"$work/root/usr/bin/herald" --flagfile="$work/root/etc/herald/herald.flags" \
    --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 >"$work/herald.log" 2>&1 &
herald_pid=$!
port=
for _ in $(seq 100); do
  port=$(grep -o '"herald listening http=127.0.0.1:[0-9]*' "$work/herald.log" | grep -o '[0-9]*$' || true)
  [[ -n $port ]] && break
  kill -0 "$herald_pid" 2>/dev/null || { cat "$work/herald.log"; fail "the packaged herald exited"; }
  sleep 0.1
done
[[ -n $port ]] || { cat "$work/herald.log"; fail "no listening line"; }
[[ $(curl -s "http://127.0.0.1:$port/readyz") == "ready" ]] || fail "/readyz did not answer ready"
# It serves the packaged web root by default, and logs JSON as the flag file says.
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/herald.js") == 200 ]] ||
  fail "/herald.js is not served from /usr/share/herald/web"
head -1 "$work/herald.log" | grep -q '^{"time":' || fail "the log is not JSON: $(head -1 "$work/herald.log")"
kill -TERM "$herald_pid"
for _ in $(seq 200); do kill -0 "$herald_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$herald_pid" 2>/dev/null && fail "herald still runs 20 s after SIGTERM"
wait "$herald_pid" || fail "herald did not exit 0 on SIGTERM"
herald_pid=
echo "PASS"
