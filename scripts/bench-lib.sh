# Set-up shared by scripts/bench-ingest and scripts/bench-floor; sourced, not run. Each
# script defines `say` before calling these.

# Settings from the caller's environment would make a run unlike anyone else's.
bench_clean_env() {
  local v
  for v in $(compgen -e | grep '^TOLLGATE_' || true); do unset "$v"; done
}

# Copies the ceiling harness in $1 to /tmp/limits, where its scripts expect to live: over it,
# not replacing it, so its build and cluster directory are kept.
bench_harness() {
  mkdir -p /tmp/limits/results /tmp/limits/db
  cp -r "$1/." /tmp/limits/
}

# The harness's throwaway PostgreSQL on 127.0.0.1:5434: used as it is when it already runs,
# else started here and stopped again by bench_cluster_down.
PG_STARTED=0
bench_cluster_up() {
  if su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/limits/pg status" >/dev/null 2>&1; then
    say "the 5434 cluster is already running; using it and leaving it running"
  else
    say "starting the 5434 cluster"
    PG_STARTED=1
    bash /tmp/limits/pg_start.sh >/dev/null
  fi
}
bench_cluster_down() {
  if [ "$PG_STARTED" = 1 ]; then bash /tmp/limits/pg_stop.sh >/dev/null 2>&1 || true; fi
}
