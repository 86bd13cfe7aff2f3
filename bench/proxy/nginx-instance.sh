#!/usr/bin/env bash
# nginx as a function instance: `return 200` from one worker on 127.0.0.1:$FC_SERVER_PORT.
# Writes a config into a fresh temp dir (under $TMPDIR, else /tmp) and execs nginx in the
# foreground, so the caller's pid is nginx's master and SIGTERM stops it. Works the same
# when Frost runs it as a function (FC_SERVER_PORT set by Frost, unprivileged user) and when
# bench/proxy/run.sh runs it directly as the "direct nginx" target.
#
# usage: FC_SERVER_PORT=N nginx-instance.sh      (FC_CUSTOM_LISTEN_PORT is accepted too)
set -euo pipefail
PORT=${FC_SERVER_PORT:-${FC_CUSTOM_LISTEN_PORT:-}}
[ -n "$PORT" ] || { echo "nginx-instance: FC_SERVER_PORT is not set" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx-instance: nginx not found" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/nginx-instance.XXXXXX")
chmod 755 "$dir"

# Temp paths for every module this nginx has (Debian's point at /var/lib/nginx, not ours).
temps="client_body_temp_path $dir/body;"
features=$("$NGINX" -V 2>&1)
for m in proxy fastcgi uwsgi scgi; do
  case "$features" in *"--without-http_${m}_module"*) ;; *) temps="$temps ${m}_temp_path $dir/$m;" ;; esac
done

cat > "$dir/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  $temps
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$PORT;
    location / {
      default_type text/plain;
      return 200 'ok\n';
    }
  }
}
NGX
exec "$NGINX" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
