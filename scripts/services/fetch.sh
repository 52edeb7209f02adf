#!/usr/bin/env bash
# Fetch (once) the test/CI services from Maven Central, via mvn only:
#   - Apache Kafka (org.apache.kafka:kafka_2.13 + runtime deps) -> .services/kafka-<ver>/lib
#   - mongo-java-server + memory backend                         -> .services/mongo-java-server-<ver>/lib
#     and scripts/services/MongoServerMain.java compiled into   -> .services/mongo-java-server-<ver>/classes
# Everything is cached under <repo>/.services/ (git-ignored). Idempotent; a warm run does
# not start Maven at all.
#
# Env overrides: KAFKA_VERSION (default 3.9.2), MONGO_JAVA_SERVER_VERSION (default 1.47.0),
#                SERVICES_DIR (default <repo>/.services), MVN (default mvn).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
SVC="${SERVICES_DIR:-$REPO/.services}"
MVN="${MVN:-mvn}"

# kafkajs 2.2.4 is refused by Kafka 4.x brokers (4.0 removed the old protocol versions
# kafkajs speaks), so stay on the last 3.x line.
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
MONGO_JAVA_SERVER_VERSION="${MONGO_JAVA_SERVER_VERSION:-1.47.0}"
SLF4J_SIMPLE_VERSION="${SLF4J_SIMPLE_VERSION:-2.0.17}"
# Logging backend for the broker (kafka_2.13's pom brings only slf4j-api): the same
# binding the official 3.x distribution ships (reload4j), log4j2 for 4.x.
if [[ "$KAFKA_VERSION" == 3.* ]]; then
  KAFKA_LOG_DEPS='<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>'
else
  KAFKA_LOG_DEPS='<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>'
fi

KAFKA_HOME="$SVC/kafka-$KAFKA_VERSION"
MONGO_HOME="$SVC/mongo-java-server-$MONGO_JAVA_SERVER_VERSION"
BUILD="$SVC/build"

log() { echo "[services/fetch] $*" >&2; }

ensure_gitignore() {
  local gi="$REPO/.gitignore"
  if [[ -f "$gi" ]]; then
    if ! grep -qxE '/?\.services/?' "$gi"; then
      # keep the file's last line intact if it has no trailing newline
      [[ -s "$gi" && -n "$(tail -c1 "$gi")" ]] && echo >>"$gi"
      echo ".services/" >>"$gi"
    fi
  else
    printf '%s\n' ".services/" "node_modules/" "data/" >"$gi"
  fi
}

kafka_pom() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.services</groupId>
  <artifactId>kafka</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    $KAFKA_LOG_DEPS
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.6.1</version>
        <configuration>
          <outputDirectory>$KAFKA_HOME/lib.tmp</outputDirectory>
          <includeScope>runtime</includeScope>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
EOF
}

mongo_pom() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.services</groupId>
  <artifactId>mongo-java-server</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>de.bwaldvogel</groupId>
      <artifactId>mongo-java-server</artifactId>
      <version>$MONGO_JAVA_SERVER_VERSION</version>
    </dependency>
    <dependency>
      <groupId>de.bwaldvogel</groupId>
      <artifactId>mongo-java-server-memory-backend</artifactId>
      <version>$MONGO_JAVA_SERVER_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>$SLF4J_SIMPLE_VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.6.1</version>
        <configuration>
          <outputDirectory>$MONGO_HOME/lib.tmp</outputDirectory>
          <includeScope>runtime</includeScope>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
EOF
}

main() {
  command -v java >/dev/null || { log "java not found on PATH"; exit 1; }
  mkdir -p "$SVC"
  ensure_gitignore

  # A home is complete when its .complete stamp holds exactly the pom that would be
  # generated now; a version or dependency change therefore triggers a re-fetch.
  local modules=() kpom mpom
  kpom="$(kafka_pom)"
  mpom="$(mongo_pom)"
  if [[ ! -f "$KAFKA_HOME/.complete" || "$(cat "$KAFKA_HOME/.complete")" != "$kpom" ]]; then
    rm -rf "${KAFKA_HOME:?}/lib" "$KAFKA_HOME/lib.tmp" "$KAFKA_HOME/.complete"
    mkdir -p "$BUILD/kafka"
    printf '%s\n' "$kpom" >"$BUILD/kafka/pom.xml"
    modules+=(kafka)
  fi
  if [[ ! -f "$MONGO_HOME/.complete" || "$(cat "$MONGO_HOME/.complete")" != "$mpom" ]]; then
    rm -rf "${MONGO_HOME:?}/lib" "$MONGO_HOME/lib.tmp" "$MONGO_HOME/classes" "$MONGO_HOME/.complete"
    mkdir -p "$BUILD/mongo"
    printf '%s\n' "$mpom" >"$BUILD/mongo/pom.xml"
    modules+=(mongo)
  fi

  if ((${#modules[@]})); then
    command -v "$MVN" >/dev/null || { log "$MVN not found on PATH"; exit 1; }
    log "resolving from Maven Central: ${modules[*]} (kafka $KAFKA_VERSION, mongo-java-server $MONGO_JAVA_SERVER_VERSION)"
    {
      echo '<?xml version="1.0" encoding="UTF-8"?>'
      echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
      echo '<groupId>local.services</groupId><artifactId>aggregator</artifactId><version>0</version><packaging>pom</packaging><modules>'
      for m in "${modules[@]}"; do echo "<module>$m</module>"; done
      echo '</modules></project>'
    } >"$BUILD/pom.xml"
    # one Maven run for everything that is missing (Debian's Maven 3.8 prints stray ANSI
    # resets even with -B; strip them, keep any error output, on stderr)
    "$MVN" -B -q -Dstyle.color=never -f "$BUILD/pom.xml" dependency:copy-dependencies 2>&1 \
      | sed -e 's/\x1b\[[0-9;]*m//g' >&2
    for m in "${modules[@]}"; do
      case "$m" in
        kafka) mv "$KAFKA_HOME/lib.tmp" "$KAFKA_HOME/lib" && printf '%s' "$kpom" >"$KAFKA_HOME/.complete" ;;
        mongo) mv "$MONGO_HOME/lib.tmp" "$MONGO_HOME/lib" && printf '%s' "$mpom" >"$MONGO_HOME/.complete" ;;
      esac
    done
  fi

  # (re)compile the mongo launcher when missing or when its source changed
  local src="$SCRIPT_DIR/MongoServerMain.java"
  local cls="$MONGO_HOME/classes/MongoServerMain.class"
  if [[ ! -f "$cls" || "$src" -nt "$cls" ]]; then
    command -v javac >/dev/null || { log "javac not found on PATH (need a JDK, not a JRE)"; exit 1; }
    log "compiling MongoServerMain.java"
    rm -rf "$MONGO_HOME/classes"
    mkdir -p "$MONGO_HOME/classes"
    javac -nowarn -d "$MONGO_HOME/classes" -cp "$MONGO_HOME/lib/*" "$src"
  fi

  # machine-readable summary for start.sh
  cat >"$SVC/env.sh" <<EOF
KAFKA_VERSION='$KAFKA_VERSION'
KAFKA_HOME='$KAFKA_HOME'
MONGO_JAVA_SERVER_VERSION='$MONGO_JAVA_SERVER_VERSION'
MONGO_HOME='$MONGO_HOME'
EOF
  log "ready: kafka $KAFKA_VERSION ($(find "$KAFKA_HOME/lib" -name '*.jar' | wc -l) jars), mongo-java-server $MONGO_JAVA_SERVER_VERSION ($(find "$MONGO_HOME/lib" -name '*.jar' | wc -l) jars)"
}

main "$@"
