#!/usr/bin/env bash
# The Debian package as an admin meets it: cpack -G DEB builds it; dpkg -i installs the binary,
# the unit (not enabled, not started), the config and rules as conffiles, the dashboards; the
# installed qoewatchd checks the shipped config with its credential; remove keeps the edited
# config, purge removes it. Needs root (exit 77: skipped otherwise).
set -euo pipefail
build=$1
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: dpkg -i needs root"; exit 77; fi
if dpkg-query -W -f='${Status}' qoewatch 2>/dev/null | grep -q 'install ok installed'; then
  echo "SKIP: a qoewatch package is installed on this machine; not touching it"
  exit 77
fi
for p in /usr/bin/qoewatchd /etc/qoewatch /var/lib/qoewatch /var/lib/private/qoewatch; do
  if [ -e "$p" ]; then echo "SKIP: $p exists (qoewatch installed by hand?); not touching it"; exit 77; fi
done
work=$(mktemp -d /tmp/qoewatch-deb.XXXXXX)
cleanup() { dpkg -P qoewatch >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/qoewatch_*.deb)
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libsystemd0 libsqlite3-0 libyaml-cpp libspdlog libssl3 libprometheus-cpp libre2-9 \
  libdate-tz3 tzdata; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib"
done
conffiles=$(dpkg-deb -I "$deb" conffiles)
for f in /etc/qoewatch/qoewatch.yaml /etc/qoewatch/rules/startup.yaml; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile"
done

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
unit=/usr/lib/systemd/system/qoewatchd.service
[ -x /usr/bin/qoewatchd ] || fail "/usr/bin/qoewatchd missing"
[ -f "$unit" ] || fail "$unit missing"
[ -f /usr/share/qoewatch/dashboards/grafana/qoewatch.json ] || fail "dashboard missing"
[ -d /etc/qoewatch/credentials ] || fail "/etc/qoewatch/credentials missing"
[ "$(stat -c %a /etc/qoewatch/credentials)" = 700 ] || fail "credentials folder not 0700"
if ls /etc/systemd/system/*.wants/qoewatchd.service >/dev/null 2>&1; then fail "unit enabled"; fi
grep -q '^ExecStart=/usr/bin/qoewatchd --config /etc/qoewatch/qoewatch.yaml$' "$unit" \
  || fail "ExecStart does not start the installed binary"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify is not clean: $out"

mkdir -m 700 "$work/credentials"
echo "installed-test-key" >"$work/credentials/smartsight_api_key"
CREDENTIALS_DIRECTORY="$work/credentials" /usr/bin/qoewatchd \
  --config /etc/qoewatch/qoewatch.yaml --check-config >"$work/check.out" 2>&1 \
  || { cat "$work/check.out"; fail "--check-config of the shipped config"; }
grep -q "listsessions" "$work/check.out" || fail "--check-config printed no rule query"
if /usr/bin/qoewatchd --config /etc/qoewatch/qoewatch.yaml --check-config >"$work/nocred.out" 2>&1; then
  fail "--check-config passed without the credential"
fi
grep -q "CREDENTIALS_DIRECTORY is not set" "$work/nocred.out" || { cat "$work/nocred.out"; fail "unclear credential error"; }

echo "# edited by the admin" >>/etc/qoewatch/qoewatch.yaml
dpkg -r qoewatch >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/qoewatchd ] || fail "binary left after remove"
grep -q "edited by the admin" /etc/qoewatch/qoewatch.yaml || fail "remove lost the edited config"
dpkg -P qoewatch >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P"; }
[ ! -e /etc/qoewatch ] || fail "/etc/qoewatch left after purge: $(find /etc/qoewatch)"
echo "package installed, checked, removed and purged"
