{{/* Chart name (or nameOverride). */}}
{{- define "milvus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullnameOverride, else the release name if it contains the name, else REL-<name>. */}}
{{- define "milvus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "milvus.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "milvus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "milvus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "milvus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "milvus.labels" -}}
helm.sh/chart: {{ include "milvus.chart" . }}
{{ include "milvus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* "true" when this chart version has feature $f (see Chart.yaml annotations). */}}
{{- define "milvus.has" -}}
{{- $features := splitList "," (index .root.Chart.Annotations "milvus-test/features" | default "") -}}
{{- if has .f $features }}true{{ end -}}
{{- end -}}

{{/* "true" when mixcoord replaces the separate coordinators. Newer charts read
     .Values.mixCoordinator.enabled unconditionally, as the real chart does. */}}
{{- define "milvus.mixcoord" -}}
{{- if and (include "milvus.has" (dict "root" . "f" "mixcoord")) .Values.mixCoordinator.enabled }}true{{ end -}}
{{- end -}}

{{- define "milvus.streaming" -}}
{{- if and (include "milvus.has" (dict "root" . "f" "streaming")) .Values.streaming.enabled }}true{{ end -}}
{{- end -}}

{{/* The Milvus components this release renders, as YAML {items: [...]}. */}}
{{- define "milvus.components" -}}
items:
{{- if not .Values.cluster.enabled }}
  - {name: standalone, key: standalone, args: [milvus, run, standalone]}
{{- else }}
{{- $mix := include "milvus.mixcoord" . }}
{{- if $mix }}
  - {name: mixcoord, key: mixCoordinator, coord: true, args: [milvus, run, mixture, -rootcoord, -querycoord, -datacoord, -indexcoord]}
{{- end }}
{{- range $c := list (list "rootcoord" "rootCoordinator") (list "datacoord" "dataCoordinator") (list "querycoord" "queryCoordinator") (list "indexcoord" "indexCoordinator") }}
{{- if and (not $mix) (index $.Values (index $c 1)).enabled }}
  - {name: {{ index $c 0 }}, key: {{ index $c 1 }}, coord: true, args: [milvus, run, {{ index $c 0 }}]}
{{- end }}
{{- end }}
{{- if include "milvus.streaming" . }}
  - {name: streamingnode, key: streamingNode, args: [milvus, run, streamingnode]}
{{- end }}
{{- range $c := list (list "querynode" "queryNode") (list "datanode" "dataNode") (list "indexnode" "indexNode") (list "proxy" "proxy") }}
{{- if (index $.Values (index $c 1)).enabled }}
  - {name: {{ index $c 0 }}, key: {{ index $c 1 }}, args: [milvus, run, {{ index $c 0 }}]}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Message queue: first enabled of externalPulsar, pulsar, woodpecker, pulsarv3,
     externalKafka, kafka; else standalone.messageQueue (standalone) or rocksmq. */}}
{{- define "milvus.mq" -}}
{{- $v := .Values -}}
{{- if $v.externalPulsar.enabled -}}pulsar
{{- else if $v.pulsar.enabled -}}pulsar
{{- else if and (include "milvus.has" (dict "root" . "f" "streaming")) $v.woodpecker.enabled -}}woodpecker
{{- else if and (include "milvus.has" (dict "root" . "f" "pulsarv3")) $v.pulsarv3.enabled -}}pulsar
{{- else if or $v.externalKafka.enabled $v.kafka.enabled -}}kafka
{{- else if not $v.cluster.enabled -}}{{ $v.standalone.messageQueue }}
{{- else -}}rocksmq
{{- end -}}
{{- end -}}

{{- define "milvus.pulsarAddress" -}}
{{- $v := .Values -}}
{{- if $v.externalPulsar.enabled -}}pulsar://{{ $v.externalPulsar.host }}:{{ $v.externalPulsar.port }}
{{- else if $v.pulsar.enabled -}}pulsar://{{ .Release.Name }}-pulsar-proxy:6650
{{- else -}}pulsar://{{ .Release.Name }}-pulsarv3-proxy:6650
{{- end -}}
{{- end -}}

{{- define "milvus.etcdEndpoints" -}}
{{- if .Values.externalEtcd.enabled -}}
{{- range .Values.externalEtcd.endpoints }}
- {{ . }}
{{- end -}}
{{- else }}
- {{ .Release.Name }}-etcd:2379
{{- end -}}
{{- end -}}

{{/* enableActiveStandby for coordinator $key ("rootCoordinator", ...) */}}
{{- define "milvus.activeStandby" -}}
{{- if include "milvus.has" (dict "root" .root "f" "activestandby") -}}
{{- $c := index .root.Values .key -}}
{{- if or (and $c.activeStandby $c.activeStandby.enabled) (and (include "milvus.mixcoord" .root) .root.Values.mixCoordinator.activeStandby.enabled) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount of the Milvus pods: serviceAccount.name, else "milvus" when the chart
     creates it, else "default" (as the real chart). */}}
{{- define "milvus.serviceAccount" -}}
{{- $sa := .Values.serviceAccount | default dict -}}
{{- if $sa.create -}}
{{- default "milvus" $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}
