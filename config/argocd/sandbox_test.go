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

package argocd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// actionClock is the time os.date and os.time give the scripts under test, so that the
// annotation of the action reconcile is known in advance.
var actionClock = time.Date(2026, 12, 7, 3, 4, 5, 0, time.UTC)

// newSandbox is a Lua state like the one Argo CD v3 runs health checks and resource
// actions in (util/lua, runLuaWithResourceActionParameters): SkipOpenLibs, then only
// package, base and table; require("os") gives its safe os, date and time only (the
// global os stays nil); a one-second limit.
func newSandbox(t *testing.T) *lua.LState {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.PreloadModule(lua.OsLibName, func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{"date": osDate, "time": osTime}))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	t.Cleanup(cancel)
	L.SetContext(ctx)
	return L
}

// compiled caches compiled scripts, as Argo CD does: the kstatus test runs thousands.
var compiled sync.Map

// doCompiled runs script in L like L.DoString, compiling it once.
func doCompiled(L *lua.LState, script string) error {
	proto, ok := compiled.Load(script)
	if !ok {
		chunk, err := parse.Parse(strings.NewReader(script), "<script>")
		if err != nil {
			return err
		}
		p, err := lua.Compile(chunk, "<script>")
		if err != nil {
			return err
		}
		proto, _ = compiled.LoadOrStore(script, p)
	}
	L.Push(L.NewFunctionFromProto(proto.(*lua.FunctionProto)))
	return L.PCall(0, lua.MultRet, nil)
}

func osTime(L *lua.LState) int {
	L.Push(lua.LNumber(actionClock.Unix()))
	return 1
}

// osDate is Argo CD's os.date on actionClock, for the strftime directives scripts use to
// write timestamps; any other directive fails the script (and so the test).
func osDate(L *lua.LState) int {
	format := L.OptString(1, "%c")
	t := actionClock.Local()
	if strings.HasPrefix(format, "!") {
		t, format = actionClock.UTC(), format[1:]
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'X':
			b.WriteString(t.Format("15:04:05"))
		case '%':
			b.WriteByte('%')
		default:
			L.RaiseError("os.date: the test's clock does not know %%%c", format[i])
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// fromLua converts a script's result back to JSON values the way Argo CD does (luajson,
// then cleanReturnedObj): a table with keys 1..n is a list; an empty table is a list,
// unless the original object had a map there.
func fromLua(v lua.LValue, orig any) any {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LBool:
		return bool(v)
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case *lua.LTable:
		if n := v.MaxN(); n > 0 && n == v.Len() && countKeys(v) == n {
			origList, _ := orig.([]any)
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				var o any
				if i-1 < len(origList) {
					o = origList[i-1]
				}
				out = append(out, fromLua(v.RawGetInt(i), o))
			}
			return out
		}
		origMap, isMap := orig.(map[string]any)
		if countKeys(v) == 0 {
			if isMap {
				return map[string]any{}
			}
			return []any{}
		}
		out := map[string]any{}
		v.ForEach(func(k, e lua.LValue) {
			out[k.String()] = fromLua(e, origMap[k.String()])
		})
		return out
	default:
		panic(fmt.Sprintf("unexpected Lua value %s", v.Type()))
	}
}

func countKeys(t *lua.LTable) int {
	n := 0
	t.ForEach(func(lua.LValue, lua.LValue) { n++ })
	return n
}
