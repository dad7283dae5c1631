{{- /*
What the operator's container is given: its arguments, environment and volumes. The
Deployment and the helm test Pod (templates/tests/preflight.yaml) both include them, so
that preflight checks exactly the configuration the operator runs with.
*/ -}}

{{/* The operator's arguments, as YAML list items. */}}
{{- define "vpnuser-operator.managerArgs" -}}
{{- if .Values.metrics.enabled }}
- --metrics-bind-address=:8443
{{- end }}
{{- if .Values.metrics.perObject }}
- --metrics-per-object
{{- end }}
{{- if .Values.leaderElection.enabled }}
- --leader-elect
{{- end }}
- --health-probe-bind-address=:8081
{{- if eq .Values.defaultCredentials "none" }}
# No credentials of its own: every VpnUser names its credentials Secret.
- --default-credentials=none
{{- else if include "vpnuser-operator.keylessSource" . }}
# Keyless: temporary credentials, refreshed ahead of their expiry.
- --credentials-source={{ include "vpnuser-operator.keylessSource" . }}
{{- with .Values.credentials.metadataEndpoint }}
- --metadata-endpoint={{ . }}
{{- end }}
{{- else }}
# The credentials are the files of the mounted Secret, read again when they change.
- --cloud-credentials-dir=/etc/huaweicloud/credentials
{{- end }}
{{- with .Values.region }}
- --region={{ . }}
{{- end }}
{{- with .Values.endpoint }}
- --vpn-endpoint={{ . }}
{{- end }}
{{- with .Values.syncPeriod }}
- --sync-period={{ . }}
{{- end }}
{{- with .Values.cloudQPS }}
- --cloud-qps={{ . }}
{{- end }}
{{- with .Values.cloudBurst }}
- --cloud-burst={{ . }}
{{- end }}
{{- with .Values.maxConcurrentReconciles }}
- --max-concurrent-reconciles={{ . }}
{{- end }}
{{- with .Values.logLevel }}
- --zap-log-level={{ . }}
{{- end }}
{{- with include "vpnuser-operator.watchNamespaces" . }}
# Only these namespaces: the operator's RBAC is a Role in each.
- --watch-namespaces={{ . }}
{{- end }}
{{- with include "vpnuser-operator.adoptionNamespaces" . }}
- {{ . | quote }}
{{- end }}
{{- if .Values.allowInsecureEndpoint }}
- --allow-insecure-endpoint
{{- end }}
{{- with .Values.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* goMemLimit, checked: "limit", a Go byte count, or empty. */}}
{{- define "vpnuser-operator.goMemLimit" -}}
{{- $goMemLimit := toString .Values.goMemLimit }}
{{- if kindIs "float64" .Values.goMemLimit }}
{{- /* A plain number in a values file: bytes. */}}
{{- $goMemLimit = printf "%d" (int64 .Values.goMemLimit) }}
{{- end }}
{{- if and $goMemLimit (not (regexMatch "^(limit|off|[0-9]+(B|KiB|MiB|GiB|TiB)?)$" $goMemLimit)) }}
{{- fail (printf "goMemLimit must be \"limit\", \"\", \"off\" or a byte count such as 230MiB (units B, KiB, MiB, GiB, TiB; not Mi), got %q" $goMemLimit) }}
{{- end }}
{{- $goMemLimit }}
{{- end }}

{{/* The operator's environment, as YAML list items (none: empty). */}}
{{- define "vpnuser-operator.managerEnv" -}}
{{- $goMemLimit := include "vpnuser-operator.goMemLimit" . }}
{{- $keyless := include "vpnuser-operator.keylessSource" . }}
{{- if and $keyless (ne .Values.defaultCredentials "none") }}
{{ include "vpnuser-operator.keylessEnv" . | trim }}
{{- end }}
{{- if include "vpnuser-operator.ownCredentials" . }}
# The region, when the Secret has one (else --region).
- name: HUAWEICLOUD_SDK_REGION
  valueFrom:
    secretKeyRef:
      name: {{ include "vpnuser-operator.credentialsSecretName" . }}
      key: HUAWEICLOUD_SDK_REGION
      optional: true
{{- end }}
{{- if eq $goMemLimit "limit" }}
# The Go runtime's soft memory limit: the container's memory limit, in bytes.
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
      divisor: "1"
{{- else if $goMemLimit }}
- name: GOMEMLIMIT
  value: {{ $goMemLimit | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The operator container's volume mounts, as YAML list items (none: empty). */}}
{{- define "vpnuser-operator.managerVolumeMounts" -}}
{{- if include "vpnuser-operator.ownCredentials" . }}
- name: cloud-credentials
  mountPath: /etc/huaweicloud/credentials
  readOnly: true
{{- else if and (ne .Values.defaultCredentials "none") (eq (include "vpnuser-operator.keylessSource" .) "oidc") }}
- name: oidc-token
  mountPath: /var/run/secrets/huaweicloud/oidc
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod's volumes, as YAML list items (none: empty). */}}
{{- define "vpnuser-operator.managerVolumes" -}}
{{- if include "vpnuser-operator.ownCredentials" . }}
- name: cloud-credentials
  secret:
    secretName: {{ include "vpnuser-operator.credentialsSecretName" . }}
{{- else if and (ne .Values.defaultCredentials "none") (eq (include "vpnuser-operator.keylessSource" .) "oidc") }}
- name: oidc-token
  projected:
    sources:
    - serviceAccountToken:
        audience: {{ .Values.credentials.oidc.audience | quote }}
        expirationSeconds: {{ .Values.credentials.oidc.expirationSeconds }}
        path: token
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
topologySpreadConstraints, each without a labelSelector given the operator's pod
selector (the constraint would otherwise count no pod).
*/}}
{{- define "vpnuser-operator.topologySpreadConstraints" -}}
{{- $out := list }}
{{- range .Values.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "vpnuser-operator.selectorLabels" $ | fromYaml)) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}


{{/* "true" when the operator reads keys from the chart's credentials Secret (not none, not keyless). */}}
{{- define "vpnuser-operator.ownCredentials" -}}
{{- if and (ne .Values.defaultCredentials "none") (not (include "vpnuser-operator.keylessSource" .)) }}true{{ end }}
{{- end }}
