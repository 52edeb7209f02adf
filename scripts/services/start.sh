#!/usr/bin/env bash
# Start the test/CI services fetched by fetch.sh (run automatically, cached):
#   - Kafka: single-node KRaft (combined broker+controller), fresh storage each start
#   - mongo-java-server: in-memory MongoDB wire-protocol server
#
#   scripts/services/start.sh [kafka|mongo|all]...   (default: all)
#
# Waits until each service really serves clients, then prints the env exports to use on
# stdout (everything else goes to stderr), e.g.   eval "$(scripts/services/start.sh)"
# The same exports are written to .services/run/env. Stop with scripts/services/stop.sh.
#
# Env overrides:
#   KAFKA_HOST (127.0.0.1)  KAFKA_PORT (19092)  KAFKA_CONTROLLER_PORT (KAFKA_PORT+1)
#   KAFKA_HEAP_OPTS (-Xmx512m -Xms256m)  KAFKA_JVM_OPTS (extra JVM flags)
#   MONGO_HOST (127.0.0.1)  MONGO_PORT (27018)  MONGO_DB (kernel_test)
#   MONGO_SERVER_VERSION (MONGO_5_0)  MONGO_HEAP_OPTS (-Xmx512m)  MONGO_JAVA_OPTS (extra)
#   MONGO_OPLOG (0; 1 enables the oplog so change streams / watch() work, costs memory)
#   SERVICES_TIMEOUT (90, seconds per service)  plus fetch.sh's KAFKA_VERSION etc.
# shellcheck disable=SC2153 # KAFKA_HOME / MONGO_HOME come from .services/env.sh
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
SVC="${SERVICES_DIR:-$REPO/.services}"
RUN="$SVC/run"

KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
MONGO_HOST="${MONGO_HOST:-127.0.0.1}"
MONGO_PORT="${MONGO_PORT:-27018}"
MONGO_DB="${MONGO_DB:-kernel_test}"
MONGO_SERVER_VERSION="${MONGO_SERVER_VERSION:-MONGO_5_0}"
MONGO_HEAP_OPTS="${MONGO_HEAP_OPTS:--Xmx512m}"
MONGO_OPLOG="${MONGO_OPLOG:-0}"
MONGO_JAVA_OPTS="${MONGO_JAVA_OPTS:-}"
SERVICES_TIMEOUT="${SERVICES_TIMEOUT:-90}"

KAFKA_BROKERS="$KAFKA_HOST:$KAFKA_PORT"
MONGO_URL="mongodb://$MONGO_HOST:$MONGO_PORT/$MONGO_DB"

log() { echo "[services/start] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

want_kafka=0
want_mongo=0
(($#)) || set -- all
for arg in "$@"; do
  case "$arg" in
    kafka) want_kafka=1 ;;
    mongo) want_mongo=1 ;;
    all) want_kafka=1 want_mongo=1 ;;
    *) die "unknown service '$arg' (expected: kafka, mongo, all)" ;;
  esac
done

# --- helpers ---------------------------------------------------------------------------

# pid_of NAME MARKER: print the pid from $RUN/NAME.pid if that process is alive and its
# command line contains MARKER (guards against pid reuse); empty otherwise.
pid_of() {
  local f="$RUN/$1.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 0
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

random_cluster_id() {
  # Kafka Uuid string: 16 random bytes, URL-safe base64 without padding; avoid a leading
  # '-' (would look like a CLI flag).
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && break
  done
  echo "$id"
}

fail_with_log() { # LOGFILE MESSAGE
  log "ERROR: $2"
  if [[ -f "$1" ]]; then
    log "---- last 40 lines of $1 ----"
    tail -n 40 "$1" >&2 || true
    log "---- end of $1 ----"
  fi
  exit 1
}

# --- fetch (no-op when cached) ----------------------------------------------------------

bash "$SCRIPT_DIR/fetch.sh"
# shellcheck source=/dev/null
source "$SVC/env.sh" # KAFKA_HOME, MONGO_HOME, versions
mkdir -p "$RUN"
[[ -d "$REPO/node_modules/kafkajs" ]] || die "node_modules/kafkajs missing: run npm ci first"
[[ -d "$REPO/node_modules/mongodb" ]] || die "node_modules/mongodb missing: run npm ci first"

# --- launch ------------------------------------------------------------------------------

kafka_pid="" mongo_pid="" kafka_fresh=0 mongo_fresh=0

# On any failure, stop what this run launched (services already running are left alone).
on_exit() {
  local rc=$?
  if ((rc != 0 && (kafka_fresh || mongo_fresh))); then
    log "stopping what this run started"
    if ((kafka_fresh)); then bash "$SCRIPT_DIR/stop.sh" kafka >&2 || true; fi
    if ((mongo_fresh)); then bash "$SCRIPT_DIR/stop.sh" mongo >&2 || true; fi
  fi
  return "$rc"
}
trap on_exit EXIT

if ((want_mongo)); then
  mongo_pid="$(pid_of mongo MongoServerMain)"
  if [[ -n "$mongo_pid" ]]; then
    log "mongo already running (pid $mongo_pid)"
  else
    rm -f "$RUN/mongo.pid"
    port_in_use "$MONGO_HOST" "$MONGO_PORT" && die "port $MONGO_HOST:$MONGO_PORT already in use by another process (set MONGO_PORT)"
    log "starting mongo-java-server $MONGO_JAVA_SERVER_VERSION on $MONGO_HOST:$MONGO_PORT"
    mongo_opts=()
    [[ "$MONGO_OPLOG" == 1 ]] && mongo_opts+=(-Dmongo.oplog=true)
    # shellcheck disable=SC2086
    setsid java $MONGO_HEAP_OPTS $MONGO_JAVA_OPTS ${mongo_opts[@]+"${mongo_opts[@]}"} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
      -Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoWireProtocolHandler=warn \
      -Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoExceptionHandler=off \
      -cp "$MONGO_HOME/classes:$MONGO_HOME/lib/*" MongoServerMain \
      "$MONGO_HOST" "$MONGO_PORT" "$MONGO_SERVER_VERSION" \
      </dev/null >"$RUN/mongo.log" 2>&1 &
    mongo_pid=$!
    echo "$mongo_pid" >"$RUN/mongo.pid"
    mongo_fresh=1
  fi
fi

if ((want_kafka)); then
  kafka_pid="$(pid_of kafka kafka.Kafka)"
  if [[ -n "$kafka_pid" ]]; then
    log "kafka already running (pid $kafka_pid)"
  else
    rm -f "$RUN/kafka.pid"
    port_in_use "$KAFKA_HOST" "$KAFKA_PORT" && die "port $KAFKA_HOST:$KAFKA_PORT already in use by another process (set KAFKA_PORT)"
    port_in_use "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_HOST:$KAFKA_CONTROLLER_PORT already in use by another process (set KAFKA_CONTROLLER_PORT)"
    rm -rf "$RUN/kafka-data"
    mkdir -p "$RUN/kafka-data"
    cat >"$RUN/kafka.properties" <<EOF
# generated by scripts/services/start.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN/kafka-data
metadata.log.dir=$RUN/kafka-data
auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=4
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.retention.hours=24
log.segment.bytes=16777216
log.cleaner.enable=false
EOF
    cat >"$RUN/kafka-log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.server.KafkaConfig=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.org.apache.kafka.metadata=WARN
log4j.logger.org.apache.kafka.image=WARN
log4j.logger.kafka.log.LogManager=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.cluster.Partition=WARN
log4j.logger.kafka.log.UnifiedLog=WARN
log4j.logger.kafka.server.metadata=WARN
EOF
    cat >"$RUN/kafka-log4j2.properties" <<'EOF'
status=warn
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=info
rootLogger.appenderRef.out.ref=OUT
logger.cfg.name=kafka.server.KafkaConfig
logger.cfg.level=warn
logger.acfg.name=org.apache.kafka.common.config.AbstractConfig
logger.acfg.level=warn
logger.req.name=kafka.request.logger
logger.req.level=warn
EOF
    # shellcheck disable=SC2206
    kafka_java=(java $KAFKA_HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1
      -Djava.awt.headless=true -Dlog4j.configuration="file:$RUN/kafka-log4j.properties"
      -Dlog4j2.configurationFile="$RUN/kafka-log4j2.properties"
      $KAFKA_JVM_OPTS -cp "$KAFKA_HOME/lib/*")
    cluster_id="$(random_cluster_id)"
    log "formatting kafka $KAFKA_VERSION storage (cluster id $cluster_id)"
    "${kafka_java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$RUN/kafka.properties" \
      </dev/null >"$RUN/kafka-format.log" 2>&1 ||
      fail_with_log "$RUN/kafka-format.log" "kafka storage format failed"
    log "starting kafka $KAFKA_VERSION on $KAFKA_BROKERS (controller :$KAFKA_CONTROLLER_PORT)"
    setsid "${kafka_java[@]}" kafka.Kafka "$RUN/kafka.properties" </dev/null >"$RUN/kafka.log" 2>&1 &
    kafka_pid=$!
    echo "$kafka_pid" >"$RUN/kafka.pid"
    kafka_fresh=1
  fi
fi

# --- wait until ready (in parallel) ------------------------------------------------------

kafka_wait="" mongo_wait=""
if ((want_kafka)); then
  node "$SCRIPT_DIR/wait-kafka.mjs" "$KAFKA_BROKERS" "$SERVICES_TIMEOUT" "$kafka_pid" &
  kafka_wait=$!
fi
if ((want_mongo)); then
  node "$SCRIPT_DIR/wait-mongo.mjs" "mongodb://$MONGO_HOST:$MONGO_PORT" "$SERVICES_TIMEOUT" "$mongo_pid" &
  mongo_wait=$!
fi

failed=0
if [[ -n "$mongo_wait" ]]; then
  if wait "$mongo_wait"; then
    log "mongo ready (pid $mongo_pid)"
  else
    failed=1
    log "ERROR: mongo-java-server did not become ready on $MONGO_HOST:$MONGO_PORT within ${SERVICES_TIMEOUT}s"
    log "---- last 40 lines of $RUN/mongo.log ----"
    tail -n 40 "$RUN/mongo.log" >&2 2>/dev/null || true
    log "---- end of $RUN/mongo.log ----"
  fi
fi
if [[ -n "$kafka_wait" ]]; then
  if wait "$kafka_wait"; then
    log "kafka ready (pid $kafka_pid)"
  else
    failed=1
    log "ERROR: kafka did not become ready on $KAFKA_BROKERS within ${SERVICES_TIMEOUT}s"
    log "---- last 40 lines of $RUN/kafka.log ----"
    tail -n 40 "$RUN/kafka.log" >&2 2>/dev/null || true
    log "---- end of $RUN/kafka.log ----"
  fi
fi
((failed == 0)) || exit 1

# --- report ------------------------------------------------------------------------------

{
  ((want_kafka)) && echo "export KAFKA_BROKERS=$KAFKA_BROKERS"
  ((want_mongo)) && echo "export MONGO_URL=$MONGO_URL"
  true
} | tee "$RUN/env"
