#!/usr/bin/env bash
# Regenerate docs/screenshot.png: needs Xvfb (apt-get install -y xvfb), a built daemon (npm run build) and ../shared/data/dsb2018-train.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
xvfb-run -a -s "-screen 0 1280x800x24" java -Dsparsecell.repo="$(cd ../.. && pwd)" \
  -cp "target/classes:target/test-classes:$(cat target/cp.txt)" org.sparsecell.fiji.tools.Screenshot docs/screenshot.png
