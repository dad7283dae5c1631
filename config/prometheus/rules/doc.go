/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package rules holds the alerting rules of the operator (vpnuser-operator.rules.yaml, the
// single source of the chart's and kustomize's PrometheusRule) and the tests that run
// promtool on them (check rules, and the unit tests in tests/), check that every alert is
// tested firing and silent, has a severity and a runbook in the README, and that the
// chart and kustomize install exactly these rules.
package rules
