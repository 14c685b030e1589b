#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (Chromium for browser tests, PostgreSQL for the
# multi-node store, R's survey package as a live reference) when they are missing, and starts PostgreSQL on loopback. Idempotent; as a
# non-root user it only reports what is missing, and the tests that need it skip.
set -uo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
# R's survey package: the independent reference that some tests run live (fixtures are committed too).
Rscript -e 'library(survey); library(jsonlite)' >/dev/null 2>&1 || need+=(r-base-core r-cran-survey r-cran-jsonlite)
# foreign reads the SPSS files, so R checks our .sav reader too (the Rao-Scott test on wave 1).
Rscript -e 'library(foreign)' >/dev/null 2>&1 || need+=(r-cran-foreign)
# VGAM's beta-binomial (the family ictreg's overdispersed model uses) in the list-experiment reference.
Rscript -e 'library(VGAM)' >/dev/null 2>&1 || need+=(r-cran-vgam)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || echo "setup-system: could not install ${need[*]}; tests that need them will skip" >&2
  else
    echo "setup-system: missing ${need[*]} (run as root to install); tests that need them will skip" >&2
  fi
fi
# Start PostgreSQL on loopback if it is installed and not running.
if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
    ver=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1}')
    if [ -n "$ver" ]; then pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true; fi
  fi
fi
exit 0
