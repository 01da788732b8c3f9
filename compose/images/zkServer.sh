#!/usr/bin/env bash
# `zkServer.sh start-foreground` as the standard image runs it: the local
# image's server (Debian's zookeeper package) reads /conf/zoo.cfg, which
# zookeeper-entrypoint writes. The heap is ZK_SERVER_HEAP megabytes, as
# in the standard image (default 1000).
set -euo pipefail
if [[ ${1:-} != start-foreground ]]; then
    echo "zkServer.sh: only start-foreground is supported in this image" >&2
    exit 2
fi
exec java -Xmx"${ZK_SERVER_HEAP:-1000}m" -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain /conf/zoo.cfg
