// Storyboard thumbnails: a WebVTT file whose cues point into one sprite
// image (`storyboard.jpg#xywh=x,y,w,h`).

function seconds(stamp) {
  const parts = stamp.trim().split(':').map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

/** Parses the VTT text into [{start, end, url, x, y, w, h}], URLs resolved against `base`. */
export function parseStoryboard(text, base) {
  const cues = [];
  for (const block of text.replace(/\r/g, '').split(/\n\n+/)) {
    const lines = block.split('\n').filter(Boolean);
    const timing = lines.findIndex((line) => line.includes('-->'));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split('-->');
    const target = lines[timing + 1].trim();
    const [path, fragment = ''] = target.split('#');
    const match = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(fragment);
    if (!match) continue;
    const [x, y, w, h] = match.slice(1).map(Number);
    cues.push({ start: seconds(from), end: seconds(to.split(' ').filter(Boolean)[0]), url: new URL(path, base).href, x, y, w, h });
  }
  return cues;
}

export async function loadStoryboard(url) {
  const absolute = new URL(url, location.origin).href;
  const response = await fetch(absolute);
  if (!response.ok) throw new Error(`storyboard: ${response.status}`);
  const cues = parseStoryboard(await response.text(), absolute);
  // Fetch the sprite once now, so the first hover shows a picture at once.
  for (const sprite of new Set(cues.map((c) => c.url))) new Image().src = sprite;
  return cues;
}

export function cueAt(cues, time) {
  return cues.find((cue) => time >= cue.start && time < cue.end) ?? cues[cues.length - 1] ?? null;
}
