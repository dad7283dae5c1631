{{/* The chart's name. */}}
{{- define "vpnuser-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name, like kustomize's namePrefix: the release name, or
"<release>-<chart>" when the release name does not contain the chart's name.
*/}}
{{- define "vpnuser-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "vpnuser-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vpnuser-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "vpnuser-operator.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "vpnuser-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vpnuser-operator.serviceAccountName" -}}
{{ include "vpnuser-operator.fullname" . }}-controller-manager
{{- end }}

{{/* The Secret of HUAWEICLOUD_SDK_* keys. */}}
{{- define "vpnuser-operator.credentialsSecretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else }}
{{- include "vpnuser-operator.fullname" . }}-credentials
{{- end }}
{{- end }}

{{/* The image reference. */}}
{{- define "vpnuser-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The namespaces of a value: a list, or a string of comma-separated names; spaces around
names, empty names (`--set 'x={}'` makes [""]) and repeats dropped.
*/}}
{{- define "vpnuser-operator.namespaceList" -}}
{{- $in := .value }}
{{- if kindIs "string" $in }}
{{- $in = splitList "," $in }}
{{- else if not (or (kindIs "slice" $in) (kindIs "invalid" $in)) }}
{{- fail (printf "%s must be a list of namespaces, not %v" .name $in) }}
{{- end }}
{{- $out := list }}
{{- range $ns := $in }}
{{- $ns = toString $ns | trim }}
{{- if $ns }}
{{- $out = append $out $ns }}
{{- end }}
{{- end }}
{{- $out | uniq | join "," }}
{{- end }}

{{/*
The namespaces of watchNamespaces, checked, joined with commas; empty for every
namespace.
*/}}
{{- define "vpnuser-operator.watchNamespaces" -}}
{{- $list := include "vpnuser-operator.namespaceList" (dict "name" "watchNamespaces" "value" .Values.watchNamespaces) }}
{{- range $ns := compact (splitList "," $list) }}
{{- if not (and (le (len $ns) 63) (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $ns)) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name (an RFC 1123 label: at most 63 lower case letters, digits and '-', starting and ending with a letter or digit)" $ns) }}
{{- end }}
{{- end }}
{{- $list }}
{{- end }}

{{/*
The flag --adoption-namespaces: nothing when adoptionNamespaces is "*" (or unset), the
flag's default; else the flag with the namespaces joined with commas (none for [] or "").
*/}}
{{- define "vpnuser-operator.adoptionNamespaces" -}}
{{- $v := .Values.adoptionNamespaces }}
{{- if not (or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq (trim $v) "*"))) }}
{{- $list := include "vpnuser-operator.namespaceList" (dict "name" "adoptionNamespaces" "value" $v) }}
{{- if has "*" (splitList "," $list) }}
{{- fail "adoptionNamespaces: \"*\" allows every namespace: set adoptionNamespaces: \"*\" alone" }}
{{- end }}
{{- printf "--adoption-namespaces=%s" $list }}
{{- end }}
{{- end }}
