{{- define "common.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "common.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "common.labels.matchLabels" -}}
app.kubernetes.io/name: {{ include "common.names.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "common.labels.standard" -}}
{{ include "common.labels.matchLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Components of this layout: name and the values key of its replica count. */}}
{{- define "milvus.components" -}}
items:
{{- if eq .Values.layout "coordinator" }}
  - {name: coordinator, key: "", args: [milvus, run, mixcoord]}
  - {name: streaming-node, key: streamingNode, args: [milvus, run, streamingnode]}
{{- else }}
  - {name: root-coordinator, key: "", args: [milvus, run, rootcoord]}
  - {name: data-coordinator, key: "", args: [milvus, run, datacoord]}
  - {name: query-coordinator, key: "", args: [milvus, run, querycoord]}
  - {name: index-coordinator, key: "", args: [milvus, run, indexcoord]}
  - {name: index-node, key: indexNode, args: [milvus, run, indexnode]}
{{- end }}
  - {name: data-node, key: dataNode, args: [milvus, run, datanode]}
  - {name: query-node, key: queryNode, args: [milvus, run, querynode]}
  - {name: proxy, key: proxy, args: [milvus, run, proxy]}
{{- end -}}
