// Charts drawn as SVG by hand: time series (lines, areas or stacked bars) and sparklines.
import { h } from "./dom.js";
import { locale } from "./i18n.js";

const PAD = { top: 10, right: 12, bottom: 24, left: 46 };

function niceMax(value) {
  if (value <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  const f = value / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * exp;
}

const color = (i) => `var(--c${(i % 6) + 1})`;

// series: [{name, values: number[]}], labels: epoch ms per point.
export function timeChart({ series, labels, format = String, height = 200, kind = "line", labelFormat }) {
  const root = h("div", { class: "chart" });
  const tip = h("div", { class: "tip hidden" });
  root.append(tip);
  let svg = null;

  const draw = () => {
    const width = Math.max(260, root.clientWidth || 600);
    const w = width - PAD.left - PAD.right;
    const hgt = height - PAD.top - PAD.bottom;
    const n = labels.length;
    const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const peak = kind === "bars" ? Math.max(0, ...totals) : Math.max(0, ...series.flatMap((s) => s.values));
    const max = niceMax(peak * 1.05);
    const x = (i) => PAD.left + (n <= 1 ? w / 2 : (i / (n - 1)) * w);
    const y = (v) => PAD.top + hgt - (v / max) * hgt;
    const parts = [];
    for (let t = 0; t <= 4; t++) {
      const v = (max / 4) * t;
      parts.push(h("svg:line", { class: "grid-line", x1: PAD.left, x2: PAD.left + w, y1: y(v), y2: y(v) }));
      parts.push(h("svg:text", { x: PAD.left - 8, y: y(v) + 3.5, "text-anchor": "end", class: "axis-label" }, format(v)));
    }
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(w / 90))));
    labels.forEach((label, i) => {
      if (i % every !== 0 && i !== n - 1) return;
      if (i !== n - 1 && n - 1 - i < every / 2) return;
      parts.push(h("svg:text", { x: x(i), y: height - 6, "text-anchor": "middle" }, (labelFormat || shortTime)(label)));
    });
    if (kind === "bars") {
      const slot = n ? w / n : w;
      const bw = Math.max(2, Math.min(26, slot * 0.66));
      labels.forEach((_, i) => {
        let base = 0;
        series.forEach((s, si) => {
          const v = s.values[i] || 0;
          if (!v) return;
          const cx = PAD.left + slot * i + slot / 2;
          parts.push(h("svg:rect", { x: cx - bw / 2, y: y(base + v), width: bw, height: Math.max(1, y(base) - y(base + v)), rx: 2, style: { fill: color(s.color ?? si) } }));
          base += v;
        });
      });
    } else {
      series.forEach((s, si) => {
        const points = s.values.map((v, i) => `${x(i)},${y(v || 0)}`);
        if (!points.length) return;
        const c = color(s.color ?? si);
        if (kind === "area" || s.area) {
          const area = `M${x(0)},${y(0)} L${points.join(" L")} L${x(n - 1)},${y(0)} Z`;
          parts.push(h("svg:path", { d: area, style: { fill: c, opacity: 0.13 } }));
        }
        parts.push(h("svg:path", { d: `M${points.join(" L")}`, style: { fill: "none", stroke: c, strokeWidth: 2, strokeLinejoin: "round" } }));
        if (n <= 2) s.values.forEach((v, i) => parts.push(h("svg:circle", { cx: x(i), cy: y(v || 0), r: 3, style: { fill: c } })));
      });
    }
    const hover = h("svg:line", { class: "hover-line hidden", y1: PAD.top, y2: PAD.top + hgt });
    parts.push(hover);
    const next = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, height, class: "axis", role: "img", "aria-label": series.map((s) => s.name).join(", ") }, parts);
    next.addEventListener("mousemove", (event) => {
      const box = next.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const i = kind === "bars"
        ? Math.floor(((px - PAD.left) / w) * n)
        : Math.round(((px - PAD.left) / w) * (n - 1));
      if (i < 0 || i >= n) return;
      const cx = kind === "bars" ? PAD.left + (w / n) * i + w / n / 2 : x(i);
      hover.setAttribute("x1", cx);
      hover.setAttribute("x2", cx);
      hover.classList.remove("hidden");
      tip.replaceChildren(
        h("b", {}, (labelFormat || longTime)(labels[i])),
        ...series.map((s, si) =>
          h("div", {}, h("i", { class: `swatch-${((s.color ?? si) % 6) + 1}` }), `${s.name}: ${format(s.values[i] || 0)}`),
        ),
      );
      tip.classList.remove("hidden");
      const left = (cx / width) * box.width;
      tip.style.left = `${Math.min(box.width - tip.offsetWidth - 4, Math.max(0, left + 12))}px`;
      tip.style.top = "4px";
    });
    next.addEventListener("mouseleave", () => {
      tip.classList.add("hidden");
      hover.classList.add("hidden");
    });
    if (svg) svg.replaceWith(next);
    else root.prepend(next);
    svg = next;
  };

  const observer = new ResizeObserver(() => draw());
  observer.observe(root);
  queueMicrotask(draw);
  return root;
}

export function legend(series) {
  return h("div", { class: "legend" }, series.map((s, i) => h("span", {}, h("i", { class: `swatch-${((s.color ?? i) % 6) + 1}` }), s.name)));
}

export function sparkline(values, colorIndex = 0, height = 34) {
  const width = 160;
  const max = Math.max(1e-9, ...values);
  const n = values.length;
  const pts = values.map((v, i) => `${n <= 1 ? width / 2 : (i / (n - 1)) * width},${height - 2 - (v / max) * (height - 4)}`);
  const c = color(colorIndex);
  return h(
    "svg:svg",
    { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "spark", width: "100%", height },
    n > 1 ? h("svg:path", { d: `M0,${height} L${pts.join(" L")} L${width},${height} Z`, style: { fill: c, opacity: 0.12 } }) : null,
    n > 1 ? h("svg:path", { d: `M${pts.join(" L")}`, style: { fill: "none", stroke: c, strokeWidth: 1.6 }, "vector-effect": "non-scaling-stroke" }) : null,
  );
}

function shortTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}
function longTime(ms) {
  return new Date(ms).toLocaleString(locale(), { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
export function dayLabel(ms) {
  return new Date(ms).toLocaleDateString(locale(), { month: "short", day: "numeric" });
}
