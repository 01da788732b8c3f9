# shellcheck shell=bash
# shellcheck disable=SC2154 # work, pids, KEYS, DURATION, CONNECTIONS: set by the caller
# Pieces shared by bench/throughput, bench/resp, bench/compare and bench/callgrind:
# Redis nodes and balancers on free loopback ports, the key preload, the
# wrk Lua scripts and the parsing of wrk's output. Source it after `cd` to
# the repository root; it defines functions only.
#
# The caller sets:
#   work       a scratch directory (logs, Lua scripts, results)
#   pids       an array; every process started here is appended to it
#   KEYS       how many keys the preload and the Lua scripts cover
#   DURATION, CONNECTIONS   for run_wrk
# and calls bench_cleanup from its EXIT trap.

# bench_cleanup: stops what was started here (the pids array) and removes
# $work.
bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for CMD...: retry for WAIT_SECONDS (10 s unless set)
  for _ in $(seq $((${WAIT_SECONDS:-10} * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2; return 1
}

start_redis() { # start_redis PORT MAXMEMORY
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
    --maxmemory "$2" --maxmemory-policy noeviction >"$work/redis-$1.log" 2>&1 &
  pids+=($!)
  wait_for redis-cli -p "$1" ping
}

# start_nodes: an index Redis (64 MiB) and four data nodes (256 MiB each);
# sets index_port, node_ports and nodes (the --nodes list).
start_nodes() {
  index_port=$(free_port)
  start_redis "$index_port" 64mb
  node_ports=()
  for _ in 1 2 3 4; do
    p=$(free_port); start_redis "$p" 256mb; node_ports+=("$p")
  done
  nodes=$(printf '127.0.0.1:%s,' "${node_ports[@]}"); nodes=${nodes%,}
}

# run_balancer PORT BINARY FLAGS...: starts BINARY on PORT against the
# nodes of start_nodes, with RUST_LOG=warn, logging to
# $work/balancer-PORT.log, and waits until it is ready. The words of the
# array BALANCER_PREFIX, when set, go in front (e.g. valgrind); the pid
# appended to pids is the one of that command.
run_balancer() {
  local port=$1 binary=$2
  shift 2
  RUST_LOG=warn ${BALANCER_PREFIX[@]+"${BALANCER_PREFIX[@]}"} "$binary" --listen "127.0.0.1:$port" \
    --index "127.0.0.1:$index_port" --nodes "$nodes" "$@" >"$work/balancer-$port.log" 2>&1 &
  pids+=($!)
  wait_for curl -sf "127.0.0.1:$port/readyz"
}

# start_webdis: a Redis of its own (256 MiB) and Webdis in front of it;
# sets webdis_redis and webdis_redis_pid (its port and pid), webdis_port
# and webdis_pid. Debian's shipped configuration (2 threads, its ACL,
# verbosity 3), with only the ports, the foreground mode and the file paths
# changed: it served more requests here than a hand-tuned one (verbosity 0,
# pool_size 20).
start_webdis() {
  webdis_redis=$(free_port)
  start_redis "$webdis_redis" 256mb
  webdis_redis_pid=${pids[-1]}
  webdis_port=$(free_port)
  python3 - "$work" "$webdis_redis" "$webdis_port" <<'PY'
import json, sys
work, redis_port, http_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conf = json.load(open("/etc/webdis/webdis.json"))
conf.update(redis_port=redis_port, http_port=http_port, daemonize=False,
            pidfile=f"{work}/webdis.pid", logfile=f"{work}/webdis.log")
json.dump(conf, open(f"{work}/webdis.json", "w"))
PY
  webdis "$work/webdis.json" &
  webdis_pid=$!
  pids+=("$webdis_pid")
  wait_for curl -sf "127.0.0.1:$webdis_port/PING"
}

# start_twemproxy: Twemproxy (nutcracker) over four Redis servers of its
# own (256 MiB each), ketama hashing as its README recommends, one
# connection per server; sets twem_port.
start_twemproxy() {
  local servers="" p
  for _ in 1 2 3 4; do
    p=$(free_port); start_redis "$p" 256mb
    servers+="   - 127.0.0.1:$p:1"$'\n'
  done
  twem_port=$(free_port)
  cat >"$work/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$twem_port
  hash: fnv1a_64
  distribution: ketama
  redis: true
  server_connections: 1
  servers:
$servers
YML
  nutcracker -c "$work/nutcracker.yml" -o "$work/nutcracker.log" &
  pids+=($!)
  wait_for redis-cli -p "$twem_port" set twemproxy:ready 1
}

value=$(head -c 100 /dev/zero | tr '\0' v)

# preload PORT PREFIX: writes KEYS keys PREFIX0.. with 100-byte values
# through the balancer on PORT, 50 at a time.
preload() {
  local i
  for ((i = 0; i < KEYS; i++)); do
    printf '{"key":"%s%d","value":"%s"}\n' "$2" "$i" "$value"
  done >"$work/bodies"
  xargs -P 50 -d '\n' -I{} curl -sf -o /dev/null -XPOST "127.0.0.1:$1/cache" -d {} <"$work/bodies"
}

# Each script builds its requests once, in a shuffled order, so wrk's Lua
# costs the same per request for every target.
lua_requests() { # lua_requests PATH_PREFIX: GET PATH_PREFIX<i> for every key
  cat <<LUA
local reqs, n = {}, 0
init = function(args)
  for i = 0, $KEYS - 1 do reqs[i + 1] = wrk.format("GET", "$1" .. i) end
  math.randomseed(42)
  for i = #reqs, 2, -1 do local j = math.random(i); reqs[i], reqs[j] = reqs[j], reqs[i] end
end
request = function() n = n % #reqs + 1; return reqs[n] end
LUA
}
post_requests() { # post_requests KEY_PREFIX: POSTs cycling over KEYS keys
  cat <<LUA
local value = string.rep("v", 100)
local i = 0
request = function()
  i = (i + 1) % $KEYS
  local body = '{"key":"$1' .. i .. '","value":"' .. value .. '"}'
  return wrk.format("POST", "/cache", {["content-type"] = "application/json"}, body)
end
LUA
}

webdis_set_requests() { # webdis_set_requests KEY_PREFIX: Webdis SETs cycling over KEYS keys
  cat <<LUA
local value = string.rep("v", 100)
local i = 0
request = function()
  i = (i + 1) % $KEYS
  return wrk.format("GET", "/SET/$1" .. i .. "/" .. value)
end
LUA
}

new_key_requests() { # new_key_requests KEY_PREFIX: a POST of a new key each time
  # The run's start time in the keys: a later run (or round) writes new
  # keys again.
  cat <<LUA
local value = string.rep("v", 100)
local i = 0
local run = tostring(os.time()) .. tostring(math.random(1000000))
request = function()
  i = i + 1
  local body = '{"key":"$1' .. run .. ':' .. i .. '","value":"' .. value .. '"}'
  return wrk.format("POST", "/cache", {["content-type"] = "application/json"}, body)
end
LUA
}

# run_wrk NAME PORT SCRIPT -> appends "name rps p50_ms p99_ms non2xx" to
# $work/results
run_wrk() {
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$3" "http://127.0.0.1:$2")
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  echo "$1 $rps $(to_ms "$p50") $(to_ms "$p99") $bad" >>"$work/results"
}
# run_redis_benchmark NAME PORT [PIPELINE] -> appends "NAME-get ..." and
# "NAME-set ..." lines like run_wrk's: redis-benchmark over CONNECTIONS
# connections, PIPELINE requests in flight on each (default 1), keys drawn
# from KEYS, 100-byte values, SET first (so GET hits), as long as DURATION
# at about 60k/s.
run_redis_benchmark() {
  local seconds=${DURATION%s} out
  out=$(redis-benchmark -p "$2" -t set,get -c "$CONNECTIONS" -r "$KEYS" -d 100 \
    -P "${3:-1}" -n $((seconds * 60000)) --csv)
  awk -F'"' -v n="$1" '$2 == "SET" || $2 == "GET" {
    printf "%s-%s %s %s %s 0\n", n, tolower($2), $4, $10, $14 }' <<<"$out" >>"$work/results"
}
to_ms() { # wrk prints 1.23ms, 456.00us or 1.20s
  awk -v v="$1" 'BEGIN { n = v + 0;
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000;
    printf "%.2f", n }'
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
col() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | median; }
