// Line charts for the benchmarks' reports: an SVG drawn here (axes, ticks, labels, one line per
// series, a legend), rasterised to PNG by resvg (a Rust renderer shipped prebuilt in the npm
// package, no native build). Text uses the machine's fonts (DejaVu Sans, else any sans-serif).
import { writeFile } from 'node:fs/promises';
import { Resvg } from '@resvg/resvg-js';

export interface Series {
  name: string;
  /** [x, y]; a y that is not finite leaves a gap in the line */
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
  color?: string;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** vertical lines across the plot, each with a label at its top */
  markers?: readonly { x: number; label: string }[];
  /** the y axis starts at 0 unless a value is below it */
  fromZero?: boolean;
}

// Okabe-Ito: told apart with any colour vision
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const WIDTH = 1000;
const HEIGHT = 560;
const PAD = { left: 80, right: 24, top: 48, bottom: 56 };
const LEGEND_ROW = 20;

/** 1, 2 or 5 times a power of ten: about `count` ticks from lo to hi. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
// 300,000 rather than 3e+5: a tick says its number as a person reads it
const label = (n: number) =>
  n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential(1) : n.toLocaleString('en-US', { maximumFractionDigits: 3 });

export function chartSvg(c: Chart): string {
  const finite = c.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xs = finite.map(([x]) => x);
  const ys = finite.map(([, y]) => y);
  // time runs from 0: the first sample is a few seconds in
  const xMin = Math.min(0, ...xs, ...(c.markers ?? []).map((m) => m.x));
  const xMax = Math.max(...xs, ...(c.markers ?? []).map((m) => m.x));
  let yMin = Math.min(...ys);
  let yMax = Math.max(...ys);
  if (!finite.length) [yMin, yMax] = [0, 1];
  if (c.fromZero !== false) yMin = Math.min(0, yMin);
  if (yMax === yMin) yMax = yMin + 1;
  const yTicks = niceTicks(yMin, yMax + (yMax - yMin) * 0.05);
  const yTop = Math.max(yTicks.at(-1)!, yMax);
  const yBottom = Math.min(yTicks[0]!, yMin);
  const xTicks = niceTicks(xMin, xMax);

  const legendRows = Math.ceil(c.series.length / 3);
  const height = HEIGHT + 16 + legendRows * LEGEND_ROW;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const px = (x: number) => PAD.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const py = (y: number) => PAD.top + plotH - ((y - yBottom) / (yTop - yBottom)) * plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">${esc(c.title)}</text>`,
  ];
  for (const t of yTicks) {
    const y = py(t);
    out.push(
      `<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${PAD.left - 8}" y="${y + 4}" text-anchor="end">${label(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = px(t);
    out.push(
      `<line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#f0f0f0"/>`,
      `<line x1="${x}" x2="${x}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${PAD.top + plotH + 20}" text-anchor="middle">${label(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${PAD.left + plotW / 2}" y="${PAD.top + plotH + 42}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(20 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  for (const m of c.markers ?? []) {
    const x = px(m.x);
    // a marker near the right edge has its label on its left
    const left = x > PAD.left + plotW * 0.8;
    out.push(
      `<line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#888" stroke-dasharray="4 4"/>`,
      `<text x="${left ? x - 4 : x + 4}" y="${PAD.top + 14}" fill="#555" font-size="12" text-anchor="${left ? 'end' : 'start'}">${esc(m.label)}</text>`,
    );
  }
  c.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const dash = s.dashed ? ' stroke-dasharray="7 4"' : '';
    // a path per run of finite points: a missing sample is a gap, not a line to zero
    let d = '';
    let pen = 'M';
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = 'M';
        continue;
      }
      d += `${pen}${px(x).toFixed(1)} ${py(y).toFixed(1)} `;
      pen = 'L';
    }
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash} stroke-linejoin="round"/>`);
    const lx = PAD.left + (i % 3) * (plotW / 3);
    const ly = HEIGHT + 12 + Math.floor(i / 3) * LEGEND_ROW;
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"${dash}/>`,
      `<text x="${lx + 36}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Draws the chart and writes it to `file` as PNG. */
export async function writeChartPng(file: string, c: Chart): Promise<void> {
  const svg = chartSvg(c);
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  await writeFile(file, png);
}
