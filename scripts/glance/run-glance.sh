#!/usr/bin/env bash
# Starts a throw-away OpenStack Glance (Image API v2, Debian package glance-api) on
# 127.0.0.1 for the backend tests, without Keystone:
#   * the paste pipeline uses the unauthenticated context (every request is an admin
#     without roles), so tests can set owners and accept memberships themselves;
#   * SQLite database in the state directory, created with `glance-manage db_sync`;
#   * file store in the state directory; workers = 0 (one process, one pid to stop);
#   * its own config files only: the packaged /etc/glance is 0750 root:glance and is
#     neither read nor needed, so a non-root user can run it too.
#
# Usage:
#   run-glance.sh start --port PORT --dir STATE_DIR [--context headers]
#                                                     prints the endpoint URL last
#     --context headers: the request context comes from X-Identity-Status: Confirmed,
#     X-Project-Id, X-User-Id and X-Roles headers (Glance's ContextMiddleware), so tests
#     can act as admin or as a non-admin project; requests without them get 401.
#     --context keystone --auth-conf FILE: keystonemiddleware's authtoken in front (a real
#     Keystone, test/helpers/keystone.ts); FILE holds the [keystone_authtoken] section,
#     appended to glance-api.conf. Glance's default policy applies (no public override).
#   run-glance.sh stop --dir STATE_DIR
# The state directory is created if missing and belongs to the caller; remove it after stop.
# Exit status: 0 ok, 2 usage, 3 glance-api or glance-manage not installed, 1 failed to start.
set -euo pipefail

usage() {
  echo "usage: $0 start --port PORT --dir STATE_DIR [--context headers|unauthenticated|keystone --auth-conf FILE] | stop --dir STATE_DIR" >&2
  exit 2
}

command=${1:-}
[ -n "$command" ] || usage
shift
port=""
dir=""
context="unauthenticated-context"
auth_conf=""
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2:-}; shift 2 ;;
    --dir) dir=${2:-}; shift 2 ;;
    --auth-conf) auth_conf=${2:-}; shift 2 ;;
    --context)
      case "${2:-}" in
        headers) context="context" ;;
        unauthenticated) context="unauthenticated-context" ;;
        keystone) context="authtoken context" ;;
        *) usage ;;
      esac
      shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$dir" ] || usage
# authtoken without its configuration, or a configuration without authtoken, is a mistake.
[ "$context" = "authtoken context" ] && [ -z "$auth_conf" ] && usage
[ "$context" != "authtoken context" ] && [ -n "$auth_conf" ] && usage

write_config() {
  mkdir -p "$dir"/{images,staging,tasks,cache,lock}
  # Same filters as Debian's default [pipeline:glance-api] (no authtoken), minus cors
  # and osprofiler which need config we do not carry.
  cat > "$dir/glance-api-paste.ini" <<PASTE
[pipeline:glance-api]
pipeline = healthcheck http_proxy_to_wsgi versionnegotiation ${context} rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:healthcheck]
paste.filter_factory = oslo_middleware:Healthcheck.factory
backends = disable_by_file
disable_by_file_path = ${dir}/healthcheck_disable
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:unauthenticated-context]
paste.filter_factory = glance.api.middleware.context:UnauthenticatedContextMiddleware.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
PASTE
  # Glance looks for schema-image.json next to its config file.
  cp /usr/share/glance-common/schema-image.json "$dir/"
  cat > "$dir/glance-api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = ${port}
workers = 0
log_file = ${dir}/glance-api.log
use_stderr = false
debug = false
enabled_backends = fs:file
image_cache_dir = ${dir}/cache
[database]
connection = sqlite:///${dir}/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = ${dir}/images
[os_glance_staging_store]
filesystem_store_datadir = ${dir}/staging
[os_glance_tasks_store]
filesystem_store_datadir = ${dir}/tasks
[paste_deploy]
config_file = ${dir}/glance-api-paste.ini
flavor =
[oslo_concurrency]
lock_path = ${dir}/lock
[oslo_policy]
enforce_new_defaults = false
policy_file = ${dir}/policy.yaml
CONF
  # The unauthenticated context has is_admin but no roles; "publicize_image" is
  # "role:admin" without a deprecated fallback, so public images need this override.
  printf '"publicize_image": ""\n' > "$dir/policy.yaml"
  if [ -n "$auth_conf" ]; then
    cat "$auth_conf" >> "$dir/glance-api.conf"
    : > "$dir/policy.yaml"
  fi
}

wait_ready() {
  local pid=$1 url=$2
  for _ in $(seq 1 600); do
    if curl -fsS --noproxy '*' -o /dev/null "$url/versions" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run-glance: glance-api exited during start-up" >&2
      tail -n 40 "$dir/stdout.log" "$dir/glance-api.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  echo "run-glance: glance-api did not answer within 60 s" >&2
  return 1
}

start() {
  [ -n "$port" ] || usage
  for tool in glance-api glance-manage curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "run-glance: $tool not installed (Debian packages glance-api, glance-common, curl)" >&2
      exit 3
    fi
  done
  write_config
  if ! glance-manage --config-file "$dir/glance-api.conf" db_sync > "$dir/db_sync.log" 2>&1; then
    echo "run-glance: glance-manage db_sync failed" >&2
    tail -n 40 "$dir/db_sync.log" >&2
    exit 1
  fi
  # --config-file given explicitly, so /etc/glance/glance-api.conf is not read. Proxy
  # variables are dropped: Glance talks only to loopback here.
  env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
    glance-api --config-file "$dir/glance-api.conf" < /dev/null > "$dir/stdout.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$dir/glance-api.pid"
  local url="http://127.0.0.1:${port}"
  if ! wait_ready "$pid" "$url"; then
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/glance-api.pid"
    exit 1
  fi
  echo "$url"
}

stop() {
  local pidfile="$dir/glance-api.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
