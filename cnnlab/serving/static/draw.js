"use strict";
// "Try it" on a run's page: draw on the pad (mouse, pen or finger) or pick an image; the page
// sends what it prepared to the same REST route as any client (:predict?explain=gradcam) and
// shows the top classes and the Grad-CAM map.

const DIGIT_BOX = 20; // MNIST: each digit scaled into 20x20, keeping its aspect ratio ...
const DIGIT_FIELD = 28; // ... then placed in 28x28 with its centre of mass at the centre

// The mean of the pixels of the crop [x0, x0+cw) x [y0, y0+ch) of `src` (sw wide) that fall in
// each of dw x dh output pixels, weighted by how much of each falls in it (area averaging:
// the anti-aliasing NIST's normalisation had).
function areaResample(src, sw, x0, y0, cw, ch, dw, dh) {
  const out = new Float32Array(dw * dh);
  const sx = cw / dw, sy = ch / dh;
  for (let j = 0; j < dh; j++) {
    const top = j * sy, bottom = top + sy;
    for (let i = 0; i < dw; i++) {
      const left = i * sx, right = left + sx;
      let sum = 0;
      for (let y = Math.floor(top); y < Math.ceil(bottom - 1e-9); y++) {
        const wy = Math.min(bottom, y + 1) - Math.max(top, y);
        for (let x = Math.floor(left); x < Math.ceil(right - 1e-9); x++) {
          const wx = Math.min(right, x + 1) - Math.max(left, x);
          sum += wx * wy * src[(y0 + y) * sw + x0 + x];
        }
      }
      out[j * dw + i] = sum / (sx * sy);
    }
  }
  return out;
}

// A drawing (grey levels 0-255, white on black, `width` x `height`) prepared as MNIST's digits
// were: cropped to the stroke, scaled into 20x20 keeping its aspect ratio, and placed in 28x28
// so that its centre of mass falls on pixel (14, 14). Returns 784 whole numbers 0-255 (row by
// row), or null for an empty drawing.
function prepareDigit(grey, width, height) {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (grey[y * width + x] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const cw = x1 - x0 + 1, ch = y1 - y0 + 1, scale = DIGIT_BOX / Math.max(cw, ch);
  const dw = Math.max(1, Math.round(cw * scale)), dh = Math.max(1, Math.round(ch * scale));
  const small = areaResample(grey, width, x0, y0, cw, ch, dw, dh);
  let mass = 0, mx = 0, my = 0;
  for (let j = 0; j < dh; j++) {
    for (let i = 0; i < dw; i++) {
      const v = small[j * dw + i];
      mass += v; mx += v * i; my += v * j;
    }
  }
  const centre = DIGIT_FIELD / 2;
  const ox = Math.round(centre - mx / mass), oy = Math.round(centre - my / mass);
  const out = new Array(DIGIT_FIELD * DIGIT_FIELD).fill(0);
  for (let j = 0; j < dh; j++) {
    for (let i = 0; i < dw; i++) {
      const x = i + ox, y = j + oy;
      if (x >= 0 && x < DIGIT_FIELD && y >= 0 && y < DIGIT_FIELD) {
        out[y * DIGIT_FIELD + x] = Math.min(255, Math.round(small[j * dw + i]));
      }
    }
  }
  return out;
}

// Any other input shape: the whole pad scaled to the model's height and width, its grey level
// in every channel.
function prepareWhole(grey, width, height, h, w) {
  return Array.from(areaResample(grey, width, 0, 0, width, height, w, h), (v) => Math.min(255, Math.round(v)));
}

window.cnnlabPrepareDigit = prepareDigit; // the tests judge this very code against MNIST

function startTrying(ident, metadata) {
  const [, h, w, c] = metadata.input.shape;
  const digits = h === DIGIT_FIELD && w === DIGIT_FIELD && c === 1;
  const pad = document.getElementById("pad"), ink = pad.getContext("2d", { willReadFrequently: true });
  document.getElementById("preparation").textContent = digits
    ? "Draw one digit, white on black. The page prepares it the way MNIST's digits were: cropped to the stroke, " +
      "scaled into 20x20 (keeping its shape), and centred by its centre of mass in 28x28."
    : `The pad is scaled to the model's ${h}x${w} input (its grey level in each of ${c} channel(s)); ` +
      "or pick an image, read as cnnlab predict reads a file.";
  const clear = () => { ink.fillStyle = "#000"; ink.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let last = null;
  const at = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
  };
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    last = at(event);
    stroke(last, last);
  });
  pad.addEventListener("pointermove", (event) => {
    if (last === null) return;
    const now = at(event);
    stroke(last, now);
    last = now;
  });
  const end = () => {
    if (last === null) return;
    last = null;
    const grey = greyOf(ink.getImageData(0, 0, pad.width, pad.height).data);
    const image = digits ? prepareDigit(grey, pad.width, pad.height) : prepareWhole(grey, pad.width, pad.height, h, w);
    if (image !== null) send(ident, metadata, JSON.stringify({ instances: [shaped(image, h, w, c)] }), image);
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  function stroke(from, to) {
    // 28 px: a digit drawn 200-250 px tall gets MNIST's strokes, 2-3 px in its 20x20 box
    ink.strokeStyle = "#fff"; ink.lineWidth = 28; ink.lineCap = "round"; ink.lineJoin = "round";
    ink.beginPath(); ink.moveTo(...from); ink.lineTo(...to); ink.stroke();
  }
  document.getElementById("clear").addEventListener("click", () => {
    clear();
    document.getElementById("bars").replaceChildren();
    document.getElementById("gradcam").hidden = true;
    document.getElementById("seen").getContext("2d").clearRect(0, 0, 112, 112);
  });
  const upload = (file) => {
    const form = new FormData();
    form.append("image", file, file.name);
    send(ident, metadata, form, null);
  };
  document.getElementById("file").addEventListener("change", (event) => event.target.files[0] && upload(event.target.files[0]));
  pad.addEventListener("dragover", (event) => event.preventDefault());
  pad.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files[0]) upload(event.dataTransfer.files[0]);
  });
}

function greyOf(rgba) {
  const grey = new Float32Array(rgba.length / 4);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  return grey;
}

function shaped(flat, h, w, c) {
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = [];
    for (let x = 0; x < w; x++) row.push(Array(c).fill(flat[y * w + x]));
    rows.push(row);
  }
  return rows;
}

function showSeen(image, h, w) {
  const seen = document.getElementById("seen"), small = document.createElement("canvas");
  small.width = w; small.height = h;
  const pixels = small.getContext("2d").createImageData(w, h);
  image.forEach((v, i) => pixels.data.set([v, v, v, 255], 4 * i));
  small.getContext("2d").putImageData(pixels, 0, 0);
  const view = seen.getContext("2d");
  view.imageSmoothingEnabled = false;
  view.clearRect(0, 0, seen.width, seen.height);
  view.drawImage(small, 0, 0, seen.width, seen.height);
}

async function send(ident, metadata, body, image) {
  const problem = document.getElementById("try-problem");
  const [, h, w] = metadata.input.shape;
  problem.textContent = "";
  if (image !== null) showSeen(image, h, w);
  const headers = typeof body === "string" ? { "Content-Type": "application/json" } : {};
  let answer, said;
  try {
    answer = await fetch(`/v1/models/${encodeURIComponent(ident)}:predict?explain=gradcam`, { method: "POST", headers, body });
    said = await answer.json();
  } catch (error) {
    problem.textContent = `the server does not answer (${error.message}): is cnnlab serve still running?`;
    return;
  }
  if (!answer.ok) {
    problem.textContent = said.error; // the server's own words: a wrong image, an unknown model
    return;
  }
  showBars(said.predictions[0], metadata.class_names);
  const map = document.getElementById("gradcam");
  map.src = `data:image/png;base64,${said.gradcam_png[0]}`;
  map.hidden = false;
}

function showBars(probabilities, names) {
  const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
  const bars = order.map(([p, i]) => {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.dataset.class = names[i];
    bar.dataset.probability = String(p);
    const label = document.createElement("span"), fill = document.createElement("span"), value = document.createElement("span");
    label.className = "label"; label.textContent = names[i];
    fill.className = "fill"; fill.style.width = `${(100 * p).toFixed(1)}%`;
    value.className = "value"; value.textContent = p.toFixed(4);
    bar.append(label, fill, value);
    return bar;
  });
  document.getElementById("bars").replaceChildren(...bars);
}
