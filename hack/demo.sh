#!/usr/bin/env bash
# make demo: the operator's main job on embedded defaults. It starts a local control plane
# (etcd + kube-apiserver built from source), the fake Huawei Cloud VPN API on loopback and
# the operator binary, applies config/samples with real kubectl, waits for the VpnUsers to
# be Ready and shows what the cloud now holds. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/bin"
kubectl="$bin/k8s/kubectl"
work=$(mktemp -d "${TMPDIR:-/tmp}/vpnuser-demo.XXXXXX")
kubeconfig="$work/kubeconfig"
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping the operator, the fake cloud and the local control plane"
  # Stop in reverse order of start, each with SIGTERM so that it cleans up after itself.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  rm -rf "$work"
  echo "demo: stopped; nothing left running"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_file() { # file seconds what logfile
  for _ in $(seq 1 $(($2 * 10))); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  echo "demo: $3 did not start in $2s; its log:" >&2
  tail -n 30 "$4" >&2
  exit 1
}

echo "demo: starting the local control plane (etcd + kube-apiserver v1.37.2 with the VpnUser CRD)"
# Each child runs in a session of its own (setsid), so that Ctrl-C reaches only this
# script, which then stops them in order: operator, fake cloud, control plane.
setsid "$bin/localcluster" -kubeconfig-out "$kubeconfig" -ready-file "$work/cluster.ready" >"$work/localcluster.log" 2>&1 &
pids+=($!)
wait_for_file "$work/cluster.ready" 60 "the local control plane" "$work/localcluster.log"
export KUBECONFIG="$kubeconfig"

# DEMO_CREDENTIALS=oidc or pod-identity runs the operator keyless (README, "Keyless
# credentials"): no access key in its environment; the fake issues credentials living
# DEMO_CREDENTIALS_LIFETIME seconds and rewrites the token files as a kubelet would.
demo_credentials=${DEMO_CREDENTIALS:-keys}
keyless_flags=()
case "$demo_credentials" in
keys) ;;
oidc | pod-identity)
  lifetime=${DEMO_CREDENTIALS_LIFETIME:-60}
  keyless_flags=(-id-token-file "$work/id-token" -id-token-lifetime 120 -oidc-lifetime "$lifetime"
    -pod-identity-token-file "$work/pod-identity-token" -pod-identity-token-rotate 90 -pod-identity-lifetime "$lifetime")
  ;;
*)
  echo "demo: DEMO_CREDENTIALS must be keys, oidc or pod-identity, got $demo_credentials" >&2
  exit 2
  ;;
esac

echo "demo: starting the fake Huawei Cloud VPN API on loopback"
setsid "$bin/fakecloud" -listen 127.0.0.1:0 -url-file "$work/fakecloud.url" -env-file "$work/fakecloud.env" \
  ${keyless_flags[@]+"${keyless_flags[@]}"} >"$work/fakecloud.log" 2>&1 &
pids+=($!)
wait_for_file "$work/fakecloud.env" 30 "the fake cloud" "$work/fakecloud.log"
fake=$(cat "$work/fakecloud.url")

# The fake cloud's demo credentials, as the operator would read them from a Secret.
# shellcheck disable=SC1091
. "$work/fakecloud.env"
export HUAWEICLOUD_SDK_REGION=ap-southeast-1
source_flags=()
if [ "$demo_credentials" != keys ]; then
  echo "demo: keyless credentials ($demo_credentials, living ${lifetime}s): no access key in the operator's environment"
  unset HUAWEICLOUD_SDK_AK HUAWEICLOUD_SDK_SK HUAWEICLOUD_SDK_SECURITY_TOKEN
  if [ "$demo_credentials" = oidc ]; then
    export HUAWEICLOUD_SDK_IDP_ID="$FAKECLOUD_IDP_ID" HUAWEICLOUD_SDK_ID_TOKEN_FILE="$FAKECLOUD_ID_TOKEN_FILE" \
      HUAWEICLOUD_SDK_IAM_ENDPOINT="$FAKECLOUD_IAM_ENDPOINT"
  else
    export HC_CONTAINER_CREDENTIALS_FULL_URI="$FAKECLOUD_POD_IDENTITY_URI" \
      HC_CONTAINER_AUTHORIZATION_TOKEN_FILE="$FAKECLOUD_POD_IDENTITY_TOKEN_FILE"
  fi
  source_flags=(--credentials-source "$demo_credentials")
fi
operator_flags=(--vpn-endpoint "$fake" --sync-period 30s --health-probe-bind-address 127.0.0.1:0 --metrics-bind-address 0
  ${source_flags[@]+"${source_flags[@]}"})

echo "demo: checking the installation first (bin/manager preflight, with the operator's flags)"
if ! "$bin/manager" preflight "${operator_flags[@]}" --preflight-server-id "$FAKECLOUD_SERVER_ID"; then
  echo "demo: the preflight found a problem (FAIL above); starting the operator anyway" >&2
fi

echo "demo: starting the operator (bin/manager) against $fake"
setsid "$bin/manager" "${operator_flags[@]}" >"$work/operator.log" 2>&1 &
pids+=($!)

echo "demo: applying config/samples with kubectl"
"$kubectl" apply -k config/samples
echo "demo: waiting for every VpnUser to be Ready"
if ! "$kubectl" wait vpnuser --all --for=condition=Ready --timeout=90s; then
  echo "demo: not every VpnUser became Ready; the operator's log says:" >&2
  tail -n 30 "$work/operator.log" >&2
fi

echo
"$kubectl" get vpnusers -o wide
echo
echo "demo: what the fake cloud holds now (GET $fake/_fake/users):"
curl -fsS "$fake/_fake/users" | python3 -m json.tool 2>/dev/null || curl -fsS "$fake/_fake/users"
echo

cat <<EOF

Try it against the running system (in another terminal):

  export KUBECONFIG=$kubeconfig
  alias kubectl=$kubectl

  # Rotate a password: the operator resets it in the cloud once.
  kubectl patch secret alice-password --type merge -p '{"stringData":{"password":"N3w-Passw0rd!"}}'
  kubectl get events --field-selector involvedObject.name=alice

  # Drift, as if someone changed the user in the console: the operator puts it back.
  curl -X PATCH $fake/_fake/users/\$(kubectl get vpnuser alice -o jsonpath='{.status.id}') \\
       -d '{"description":"changed_in_console"}'
  # Within 30 s (the demo's --sync-period) the description is back and an event says so:
  kubectl get vpnuser alice -o jsonpath='{.status.description}{"\n"}'
  kubectl get events --field-selector involvedObject.name=alice

  # Delete: the cloud user goes with it (deletionPolicy: Delete).
  kubectl delete vpnuser bob && curl -s $fake/_fake/users

The operator's log: $work/operator.log
Press Ctrl-C to stop everything.
EOF

# Wait until Ctrl-C, or until one of the processes dies.
wait -n "${pids[@]}" || true
echo "demo: a process stopped unexpectedly; see the logs in $work" >&2
