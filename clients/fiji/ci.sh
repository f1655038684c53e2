#!/usr/bin/env bash
# Fiji client tests: JUnit 5 via Maven Surefire, headless, against a real daemon started by the tests from
# <repo>/dist/server/main.js (build it first: npm run build; the project test command does).
# Dependencies come from Maven Central. Prints Surefire's totals line at the end, also under -q.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  echo "fiji: installing Maven and a JDK (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven default-jdk-headless >/dev/null) || { echo "fiji: cannot install Maven/JDK"; exit 1; }
fi
if [ ! -f "$repo/dist/server/main.js" ]; then
  echo "fiji: $repo/dist/server/main.js is missing: run npm run build first"
  exit 1
fi
# Formatter check first (SciJava tabs, unused imports; `mvn spotless:apply` fixes it): a failure fails the suite.
lint=0
mvn -B -q -f "$here/pom.xml" spotless:check || { echo "ci.sh: Java formatting differs: run mvn spotless:apply in clients/fiji"; lint=1; }
rm -rf "$here/target/surefire-reports"
mvn -B -q -f "$here/pom.xml" test "$@"
rc=$?
# Sum the Surefire XML reports into the line Maven prints without -q.
python3 - "$here/target/surefire-reports" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
t = f = e = s = 0
for p in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    r = ET.parse(p).getroot()
    t += int(r.get("tests", 0)); f += int(r.get("failures", 0)); e += int(r.get("errors", 0)); s += int(r.get("skipped", 0))
print(f"Tests run: {t}, Failures: {f}, Errors: {e}, Skipped: {s}")
PY
if [ $rc -eq 0 ] && [ $lint -ne 0 ]; then rc=1; fi
exit $rc
