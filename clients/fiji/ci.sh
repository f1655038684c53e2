#!/usr/bin/env bash
# Fiji client tests against a real daemon started by the tests from <repo>/dist/server/main.js (build it first:
# npm run build; the project test command does): JUnit 5 unit tests via Maven Surefire (headless), then the
# IJ1-macro suite via Failsafe against the packaged plugin jar, with real windows under Xvfb (mvn verify).
# Dependencies come from Maven Central. Prints the summed totals line of both at the end, also under -q.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  echo "fiji: installing Maven and a JDK (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven default-jdk-headless >/dev/null) || { echo "fiji: cannot install Maven/JDK"; exit 1; }
fi
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "fiji: installing Xvfb (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth >/dev/null) || { echo "fiji: cannot install Xvfb"; exit 1; }
fi
if [ ! -f "$repo/dist/server/main.js" ]; then
  echo "fiji: $repo/dist/server/main.js is missing: run npm run build first"
  exit 1
fi
# Formatter check first (SciJava tabs, unused imports; `mvn spotless:apply` fixes it): a failure fails the suite.
lint=0
mvn -B -q -f "$here/pom.xml" spotless:check || { echo "ci.sh: Java formatting differs: run mvn spotless:apply in clients/fiji"; lint=1; }
rm -rf "$here/target/surefire-reports" "$here/target/failsafe-reports"
# verify = unit tests, package, then the macro suite (MacroIT) on a virtual display: ImageJ, image windows, the
# ROI Manager and the Recorder are real windows there.
xvfb-run -a -s "-screen 0 1280x800x24" mvn -B -q -f "$here/pom.xml" verify "$@"
rc=$?
# Sum the Surefire and Failsafe XML reports into the line Maven prints without -q.
python3 - "$here/target/surefire-reports" "$here/target/failsafe-reports" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
t = f = e = s = 0
for p in glob.glob(sys.argv[1] + "/TEST-*.xml") + glob.glob(sys.argv[2] + "/TEST-*.xml"):
    r = ET.parse(p).getroot()
    t += int(r.get("tests", 0)); f += int(r.get("failures", 0)); e += int(r.get("errors", 0)); s += int(r.get("skipped", 0))
print(f"Tests run: {t}, Failures: {f}, Errors: {e}, Skipped: {s}")
PY
if [ $rc -eq 0 ] && [ $lint -ne 0 ]; then rc=1; fi
exit $rc
