// The player: hls.js on Media Source Extensions (native HLS where the browser has it
// and MSE is missing), with a quality menu, storyboard thumbnails over the seek bar and
// keyboard controls. Used by the watch page and the embed page.
import { config } from './config.js';
import { h, clock, icon, script } from './util.js';

// parseStoryboard reads storyboard.vtt: cues whose text is "<image>#xywh=x,y,w,h".
export function parseStoryboard(text, base) {
  const cues = [];
  const stamp = (s) => {
    const parts = s.trim().split(':').map(Number);
    return parts.reduce((acc, p) => acc * 60 + p, 0);
  };
  for (const block of text.replace(/\r/g, '').split(/\n\n+/)) {
    const lines = block.split('\n');
    const i = lines.findIndex((l) => l.includes('-->'));
    if (i < 0 || !lines[i + 1]) continue;
    const [from, to] = lines[i].split('-->').map((s) => stamp(s.split(' ').filter(Boolean)[0] || s));
    const [ref, frag] = lines[i + 1].trim().split('#xywh=');
    if (!frag) continue;
    const [x, y, w, hgt] = frag.split(',').map(Number);
    cues.push({ from, to, url: new URL(ref, base).href, x, y, w, h: hgt });
  }
  return cues;
}

export function createPlayer(root) {
  const video = h('video', { playsinline: true, preload: 'auto', 'aria-label': 'Video' });
  const big = h('button', { class: 'big-play', 'aria-label': 'Play' }, icon('play'));
  const seek = h('input', { type: 'range', min: 0, max: 0, step: 0.1, value: 0, 'aria-label': 'Seek' });
  const previewTime = h('span');
  const preview = h('div', { class: 'preview', 'aria-hidden': 'true' }, previewTime);
  const play = h('button', { class: 'play', 'aria-label': 'Play', title: 'Play (k)' }, icon('play'));
  const mute = h('button', { class: 'mute', 'aria-label': 'Mute', title: 'Mute (m)' }, icon('volume'));
  const volume = h('input', { class: 'volume', type: 'range', min: 0, max: 1, step: 0.05, value: 1, 'aria-label': 'Volume' });
  const time = h('span', { class: 'time' }, '0:00 / 0:00');
  const quality = h('select', { class: 'quality', 'aria-label': 'Quality' }, h('option', { value: '-1' }, 'Auto'));
  const full = h('button', { class: 'fullscreen', 'aria-label': 'Full screen', title: 'Full screen (f)' }, icon('fullscreen'));
  const message = h('div', { class: 'message', hidden: true, role: 'status' });
  const el = h('div', { class: 'player paused', tabindex: 0, role: 'region', 'aria-label': 'Video player' },
    video, big, message,
    h('div', { class: 'controls' },
      h('div', { class: 'seek' }, preview, seek),
      h('div', { class: 'row' }, play, mute, volume, time, quality, full)));
  root.append(el);

  let hls = null, cues = [], dragging = false, disposed = false, storyboardTimer = null;
  const listeners = [];
  const on = (target, type, fn, opts) => { target.addEventListener(type, fn, opts); listeners.push([target, type, fn, opts]); };

  const toggle = () => (video.paused ? video.play().catch(() => {}) : video.pause());
  const jump = (dt) => { video.currentTime = Math.max(0, Math.min((video.duration || 0), video.currentTime + dt)); };
  const setVolume = (v) => { video.volume = Math.max(0, Math.min(1, v)); video.muted = video.volume === 0; };
  const fullscreen = () => (document.fullscreenElement ? document.exitFullscreen() : el.requestFullscreen?.()).catch?.(() => {});

  const sync = () => {
    el.classList.toggle('paused', video.paused);
    const label = video.paused ? 'Play' : 'Pause';
    const shown = video.paused ? 'play' : 'pause';
    if (play.dataset.icon !== shown) { play.replaceChildren(icon(shown)); play.dataset.icon = shown; }
    play.setAttribute('aria-label', label);
    const sound = video.muted || video.volume === 0 ? 'muted' : 'volume';
    if (mute.dataset.icon !== sound) { mute.replaceChildren(icon(sound)); mute.dataset.icon = sound; }
    mute.setAttribute('aria-label', video.muted ? 'Unmute' : 'Mute');
    if (!dragging) seek.value = video.currentTime;
    seek.max = video.duration || 0;
    time.textContent = `${clock(video.currentTime)} / ${clock(video.duration)}`;
    volume.value = video.muted ? 0 : video.volume;
  };
  for (const ev of ['play', 'pause', 'timeupdate', 'durationchange', 'volumechange', 'loadedmetadata']) on(video, ev, sync);
  on(video, 'click', toggle);
  on(big, 'click', toggle);
  on(play, 'click', toggle);
  on(mute, 'click', () => { video.muted = !video.muted; if (!video.muted && video.volume === 0) video.volume = 0.5; });
  on(volume, 'input', () => setVolume(Number(volume.value)));
  on(full, 'click', fullscreen);
  on(seek, 'pointerdown', () => { dragging = true; });
  on(seek, 'pointerup', () => { dragging = false; });
  on(seek, 'input', () => { video.currentTime = Number(seek.value); showPreview(Number(seek.value)); });
  on(seek, 'change', () => { dragging = false; hidePreview(); });

  // Storyboard thumbnails: where the pointer is over the seek bar, or while dragging.
  const showPreview = (t) => {
    const cue = cues.find((c) => t >= c.from && t < c.to) || cues[cues.length - 1];
    if (!cue || !video.duration) return;
    preview.style.width = `${cue.w}px`;
    preview.style.height = `${cue.h}px`;
    preview.style.backgroundImage = `url("${cue.url}")`;
    preview.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    const width = seek.clientWidth;
    const x = (t / video.duration) * width;
    preview.style.left = `${Math.max(0, Math.min(width - cue.w, x - cue.w / 2))}px`;
    previewTime.textContent = clock(t);
    preview.classList.add('on');
    preview.dataset.time = String(Math.round(t * 10) / 10);
  };
  const hidePreview = () => preview.classList.remove('on');
  on(seek, 'pointermove', (e) => {
    const r = seek.getBoundingClientRect();
    showPreview(Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) * (video.duration || 0));
  });
  on(seek, 'pointerleave', () => { if (!dragging) hidePreview(); });

  // Keyboard: k or space play/pause, j/l and arrows seek, up/down volume, m mute,
  // f full screen, 0–9 jump to a tenth of the video.
  on(document, 'keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = e.target.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT' || (tag === 'INPUT' && e.target !== seek && e.target !== volume)) return;
    const onRange = e.target === seek || e.target === volume;
    let done = true;
    switch (e.key) {
      case ' ': case 'k': if (tag === 'BUTTON' && e.key === ' ') { done = false; break; } toggle(); break;
      case 'j': jump(-10); break;
      case 'l': jump(10); break;
      case 'ArrowLeft': if (onRange) { done = false; break; } jump(-5); break;
      case 'ArrowRight': if (onRange) { done = false; break; } jump(5); break;
      case 'ArrowUp': if (onRange) { done = false; break; } setVolume(video.volume + 0.1); break;
      case 'ArrowDown': if (onRange) { done = false; break; } setVolume(video.volume - 0.1); break;
      case 'm': video.muted = !video.muted; break;
      case 'f': fullscreen(); break;
      default:
        if (/^[0-9]$/.test(e.key) && video.duration) video.currentTime = (video.duration * Number(e.key)) / 10;
        else done = false;
    }
    if (done) e.preventDefault();
  });

  const levelName = (l) => (l.height ? `${l.height}p` : `${Math.round(l.bitrate / 1000)} kb/s`);
  const buildQualities = (levels) => {
    quality.replaceChildren(h('option', { value: '-1' }, 'Auto'));
    levels.map((l, i) => ({ l, i })).sort((a, b) => b.l.height - a.l.height || b.l.bitrate - a.l.bitrate)
      .forEach(({ l, i }) => quality.append(h('option', { value: String(i) }, levelName(l))));
    el.dataset.levels = String(levels.length);
  };
  on(quality, 'change', () => {
    if (!hls) return;
    const i = Number(quality.value);
    hls.currentLevel = i; // -1 is automatic
  });

  const firstFrame = () => {
    if (performance.getEntriesByName('vf-first-frame').length) return;
    const mark = () => performance.mark('vf-first-frame');
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(mark); else mark();
  };
  on(video, 'playing', firstFrame);

  const show = (text) => { message.textContent = text; message.hidden = !text; };

  return {
    el, video,
    get hls() { return hls; },
    message: show,
    async load(url, { autoplay = true, poster } = {}) {
      show('');
      if (poster) video.poster = poster;
      const again = !!hls || !!video.src;
      const at = video.currentTime, wasPaused = video.paused;
      if (hls) { hls.destroy(); hls = null; }
      if (again) autoplay = !wasPaused;
      if (!window.MediaSource && !window.ManagedMediaSource && video.canPlayType('application/vnd.apple.mpegurl')) {
        // no MSE (iPhone): native HLS below, without hls.js
      } else {
        try { await script(config.scripts.hls); } catch (e) { show(e.message); return; }
        if (disposed) return;
      }
      if (window.Hls && window.Hls.isSupported()) {
        hls = new window.Hls({ enableWorker: true, capLevelToPlayerSize: false, startPosition: again ? at : -1 });
        hls.on(window.Hls.Events.MANIFEST_PARSED, (_, d) => buildQualities(d.levels));
        hls.on(window.Hls.Events.LEVEL_SWITCHED, (_, d) => {
          const l = hls.levels[d.level];
          el.dataset.level = String(d.level);
          quality.options[0].textContent = l ? `Auto (${levelName(l)})` : 'Auto';
        });
        let recoveries = 0;
        hls.on(window.Hls.Events.ERROR, (_, d) => {
          if (!d.fatal) return;
          if (d.type === window.Hls.ErrorTypes.NETWORK_ERROR && recoveries++ < 5) hls.startLoad();
          else if (d.type === window.Hls.ErrorTypes.MEDIA_ERROR && recoveries++ < 5) hls.recoverMediaError();
          else show('This video cannot be played right now.');
        });
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        video.src = url; // Safari: native HLS, its own automatic quality
        if (again) video.addEventListener('loadedmetadata', () => { video.currentTime = at; }, { once: true });
        quality.disabled = true;
      } else {
        show('This browser cannot play HLS video.');
        return;
      }
      if (autoplay) {
        video.play().catch(() => { video.muted = true; return video.play(); }).catch(() => sync());
      }
      // The storyboard sits beside the ladder's folder: <attempt>/storyboard.vtt. A video
      // that plays before its ladder is complete has none yet: it is asked for again
      // (every 2 s, for a minute), past any answer the browser kept.
      if (cues.length || storyboardTimer) return;
      const vtt = new URL('../storyboard.vtt', url);
      let tries = 0;
      const fetchStoryboard = async () => {
        storyboardTimer = null;
        try {
          const res = await fetch(vtt, { cache: 'no-cache' });
          if (res.ok && !disposed) {
            cues = parseStoryboard(await res.text(), vtt);
            if (cues.length) {
              const img = new Image();
              img.onload = () => { el.dataset.storyboard = 'ready'; };
              img.src = cues[0].url;
              return;
            }
          }
        } catch { /* not there yet, or none: no thumbnails over the seek bar meanwhile */ }
        if (!disposed && ++tries < 30) storyboardTimer = setTimeout(fetchStoryboard, 2000);
      };
      await fetchStoryboard();
    },
    focus() { el.focus(); },
    destroy() {
      disposed = true;
      clearTimeout(storyboardTimer);
      if (hls) hls.destroy();
      for (const [t, type, fn, opts] of listeners) t.removeEventListener(type, fn, opts);
      el.remove();
    },
  };
}
