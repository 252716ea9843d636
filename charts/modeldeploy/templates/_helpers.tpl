{{/*
Names, labels and the RBAC rules shared by the templates.
*/}}

{{- define "modeldeploy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed to the chart name unless it already contains it.
Truncated to 63 characters (DNS label limit of Service names).
*/}}
{{- define "modeldeploy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modeldeploy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modeldeploy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modeldeploy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "modeldeploy.labels" -}}
helm.sh/chart: {{ include "modeldeploy.chart" . }}
{{ include "modeldeploy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modeldeploy
{{- end }}

{{- define "modeldeploy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modeldeploy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository@digest, else repository:tag (default <appVersion>-operator). */}}
{{- define "modeldeploy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default (printf "%s-operator" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The default runtime image for ModelDeployments: runtime.image, else <repository>:<appVersion>. */}}
{{- define "modeldeploy.runtimeImage" -}}
{{- default (printf "%s:%s" .Values.image.repository .Chart.AppVersion) .Values.runtime.image }}
{{- end }}

{{/* Images of `engine: vllm` runtime pods: CUDA (with GPUs) and CPU. */}}
{{- define "modeldeploy.vllmImage" -}}
{{- default (printf "%s:%s-vllm" .Values.image.repository .Chart.AppVersion) .Values.runtime.vllm.image }}
{{- end }}

{{- define "modeldeploy.vllmCpuImage" -}}
{{- default (printf "%s:%s-vllm-cpu" .Values.image.repository .Chart.AppVersion) .Values.runtime.vllm.cpuImage }}
{{- end }}

{{/*
RBAC rules on namespaced resources: what the operator does inside the namespaces it watches.
Written from the list of API calls in operator/kube.py, verb by verb; the RBAC-coverage test
(tests/chart/test_chart_rbac_covers_operator.py) runs the operator under exactly these rules
against a real API server. "apply" is a server-side-apply PATCH, which creates absent objects.
*/}}
{{- define "modeldeploy.rbac.namespacedRules" -}}
# ModelDeployments: kopf's watch of the primary resource.
- apiGroups: ["modeldeploy.io"]
  resources: ["modeldeployments"]
  verbs: ["list", "watch"]
# Status writes (merge patch of the status subresource).
- apiGroups: ["modeldeploy.io"]
  resources: ["modeldeployments/status"]
  verbs: ["patch"]
# Children carry owner references with blockOwnerDeletion; where the
# OwnerReferencesPermissionEnforcement admission plugin is on, that needs update here.
- apiGroups: ["modeldeploy.io"]
  resources: ["modeldeployments/finalizers"]
  verbs: ["update"]
# ModelCaches: kopf's watch of the second kind, and its status writes.
- apiGroups: ["modeldeploy.io"]
  resources: ["modelcaches"]
  verbs: ["list", "watch"]
- apiGroups: ["modeldeploy.io"]
  resources: ["modelcaches/status"]
  verbs: ["patch"]
# A ModelCache's volume and Jobs are owned by it (blockOwnerDeletion, as above).
- apiGroups: ["modeldeploy.io"]
  resources: ["modelcaches/finalizers"]
  verbs: ["update"]
# Children: watched (by the label app.kubernetes.io/managed-by=modeldeploy) and applied.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services", "persistentvolumeclaims"]
  verbs: ["list", "watch", "create", "patch"]
# Fetch Jobs, and a ModelCache's fetch and maintenance Jobs; delete: those of commits no
# longer served nor fetched, and a ModelCache's finished or unwanted ones.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "patch", "delete"]
{{- if .Values.rbac.serviceMonitors }}
# ServiceMonitors for runtime pods, applied only when spec.monitoring.serviceMonitor is set.
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors"]
  verbs: ["create", "patch"]
{{- end }}
# Runtime and Job pods; a fetch pod's log carries its JSON progress lines, a ModelCache
# maintenance pod's log its last report.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# The Hugging Face token named by spec.model.tokenSecretRef (never logged).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Events on ModelDeployments, posted by the operator and by kopf (core/v1).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* RBAC rules that are cluster-wide whatever the watch mode. */}}
{{- define "modeldeploy.rbac.clusterRules" -}}
# kopf discovers the ModelDeployment resource from its CRD.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
# GPU placement preflight: node labels (nvidia.com/gpu.product, nvidia.com/gpu.memory) and
# allocatable GPUs.
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["list", "watch"]
{{- if .Values.watchNamespaces }}
# Namespaced mode: kopf follows the watched namespaces (listed by name, not only by glob) to
# start and stop its per-namespace watches. Seen as a 403 without it, against a real API server.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
