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

package main

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// model is the part of a Grafana dashboard's JSON that the picture and the tests read.
type model struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	GridPos     struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

func parseModel(data []byte) (model, error) {
	var m model
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("reading the dashboard's JSON: %w", err)
	}
	return m, nil
}

// grafanaMacros are the range variables Grafana fills in before a query reaches Prometheus.
var grafanaMacros = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

// promQL is the query as Prometheus receives it, with Grafana's range macros set to 5m
// (the value does not matter to the parser). Template variables such as $job sit in
// label values, where they are plain strings.
func promQL(expr string) string {
	return grafanaMacros.ReplaceAllString(expr, "5m")
}
