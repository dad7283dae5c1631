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
	"bytes"
	"fmt"
	"html"
	"strings"
)

// The picture's geometry: Grafana's grid is 24 columns wide, its rows 30 px high.
const (
	colWidth   = 48
	rowHeight  = 30
	margin     = 12
	header     = 44
	gap        = 4
	charWidth  = 6.0 // of the 10 px monospace font
	proseWidth = 6.2 // on average, of the 11 px sans-serif font
	lineStep   = 13
)

// render draws the dashboard's layout as SVG: each panel at its grid position with its
// title, type, unit and PromQL queries, in Grafana's dark theme colours. It reads the
// dashboard's JSON, so the picture is always of the dashboard that ships.
func render(data []byte) ([]byte, error) {
	m, err := parseModel(data)
	if err != nil {
		return nil, err
	}
	bottom := 0
	for _, p := range m.Panels {
		bottom = max(bottom, p.GridPos.Y+p.GridPos.H)
	}
	width := 24*colWidth + 2*margin
	height := header + bottom*rowHeight + margin
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Inter, Helvetica, Arial, sans-serif">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#111217"/>`+"\n", width, height)
	var vars []string
	for _, v := range m.Templating.List {
		vars = append(vars, v.Name)
	}
	fmt.Fprintf(&b, `<text x="%d" y="28" fill="#ccccdc" font-size="18" font-weight="600">%s</text>`+"\n", margin, esc(m.Title))
	fmt.Fprintf(&b, `<text x="%d" y="28" fill="#8e8e9e" font-size="12" text-anchor="end">variables: %s · a layout drawn by hack/dashboard from the dashboard JSON, not a screenshot</text>`+"\n",
		width-margin, esc(strings.Join(vars, ", ")))
	for _, p := range m.Panels {
		x := margin + p.GridPos.X*colWidth
		y := header + p.GridPos.Y*rowHeight
		w := p.GridPos.W * colWidth
		h := p.GridPos.H * rowHeight
		if p.Type == "row" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#ccccdc" font-size="15" font-weight="600">%s</text>`+"\n", x, y+20, esc(p.Title))
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#2c3235"/>`+"\n", x, y+h-2, margin+24*colWidth, y+h-2)
			continue
		}
		panelSVG(&b, p, x+gap/2, y+gap/2, w-gap, h-gap)
	}
	b.WriteString("</svg>\n")
	return b.Bytes(), nil
}

func panelSVG(b *bytes.Buffer, p panel, x, y, w, h int) {
	fmt.Fprintf(b, `<g><rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="#181b1f" stroke="#2c3235"/>`+"\n", x, y, w, h)
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#ccccdc" font-size="13" font-weight="600">%s</text>`+"\n", x+8, y+18, esc(p.Title))
	kind := p.Type
	if u := p.FieldConfig.Defaults.Unit; u != "" && u != "none" {
		kind += " · " + u
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#8e8e9e" font-size="10">%s</text>`+"\n", x+8, y+32, esc(kind))
	// A faint baseline and axis, so a time series reads as a chart at a glance.
	if p.Type == "timeseries" {
		fmt.Fprintf(b, `<path d="M%d %d V%d H%d" fill="none" stroke="#2c3235"/>`+"\n", x+8, y+40, y+h-8, x+w-8)
	}
	cols := int(float64(w-20) / charWidth)
	maxLines := (h - 46) / lineStep
	var lines []string
	for _, t := range p.Targets {
		wrapped := wrap(t.Expr, cols-2)
		for i, l := range wrapped {
			if i == 0 {
				lines = append(lines, "▸ "+l)
			} else {
				lines = append(lines, "  "+l)
			}
		}
	}
	// The panel's description closes the panel, in prose.
	about := wrap(p.Description, int(float64(w-20)/proseWidth))
	maxLines -= len(about) + 1
	if len(lines) > maxLines {
		lines = append(lines[:maxLines-1], "  …")
	}
	for i, l := range about {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#8e8e9e" font-size="11" font-style="italic">%s</text>`+"\n",
			x+12, y+h-14-(len(about)-1-i)*lineStep, esc(l))
	}
	for i, l := range lines {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#6e9fff" font-size="10" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" xml:space="preserve">%s</text>`+"\n",
			x+12, y+52+i*lineStep, esc(l))
	}
	b.WriteString("</g>\n")
}

// wrap breaks a query into lines of at most n characters, after a space, a comma or an
// opening bracket where it can.
func wrap(s string, n int) []string {
	var out []string
	s = strings.Join(strings.Fields(s), " ")
	for len(s) > n {
		cut := strings.LastIndexAny(s[:n], " ,({[")
		if cut <= 0 {
			cut = n - 1
		}
		out = append(out, strings.TrimRight(s[:cut+1], " "))
		s = strings.TrimLeft(s[cut+1:], " ")
	}
	return append(out, s)
}

func esc(s string) string { return html.EscapeString(s) }
