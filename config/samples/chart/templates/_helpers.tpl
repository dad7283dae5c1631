{{- define "vpn-users.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret of one user's password. */}}
{{- define "vpn-users.secretName" -}}
{{- .user.existingSecret | default (printf "%s-%s-password" .root.Release.Name .user.name) }}
{{- end }}
