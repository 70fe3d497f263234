// The upload page: a file from a drop or the picker goes up through tus, resumable: the
// job and the tus upload are remembered per file (localStorage), so after a reload or a
// dropped connection the same file resumes from the offset the server holds. Then the
// upload is completed and the job followed until the video plays.
import { config } from './config.js';
import { gallery, APIError } from './api.js';
import { user, token } from './auth.js';
import { h, bytes, clock, rateMeter, script } from './util.js';

const CHUNK = 8 * 1024 * 1024; // API Gateway takes at most 10 MB a request

const remembered = (file) => `vf-upload:${user()}:${file.name}:${file.size}:${file.lastModified}`;

export async function uploadPage(main, { navigate, onLeave, requireUser }) {
  if (!requireUser()) return;
  document.title = 'Upload · VideoForge';
  let file = null;
  const input = h('input', { type: 'file', id: 'file', accept: 'video/*', class: 'visually-hidden' });
  const picked = h('p', { class: 'muted', id: 'picked' }, 'No file chosen.');
  const drop = h('label', { class: 'drop', for: 'file', tabindex: 0 },
    h('p', {}, h('strong', {}, 'Drop a video here'), ' or ', h('span', { class: 'button' }, 'choose a file')), picked);
  const title = h('input', { type: 'text', id: 'title', required: true, maxlength: 200 });
  const description = h('textarea', { id: 'description', maxlength: 5000 });
  const visibility = h('select', { id: 'visibility' },
    h('option', { value: 'public' }, 'Public: listed in the gallery'),
    h('option', { value: 'unlisted' }, 'Unlisted: whoever has the link'),
    h('option', { value: 'private' }, 'Private: only me'));
  const go = h('button', { type: 'submit', class: 'primary', id: 'start', disabled: true }, 'Upload');
  const form = h('form', { class: 'form' }, h('h1', {}, 'Upload a video'), drop, input,
    h('label', { for: 'title' }, 'Title'), title, h('label', { for: 'description' }, 'Description'), description,
    h('label', { for: 'visibility' }, 'Visibility'), visibility, h('div', {}, go));
  const bar = h('progress', { max: 1, value: 0, id: 'upload-progress' });
  const line = h('p', { id: 'upload-status', role: 'status', 'aria-live': 'polite' });
  const stats = h('p', { class: 'muted', id: 'upload-stats' });
  const progress = h('section', { class: 'progress', hidden: true, 'aria-label': 'Progress' }, line, bar, stats);
  main.append(form, progress);

  const choose = (f) => {
    if (!f) return;
    file = f;
    picked.textContent = `${f.name} (${bytes(f.size)})`;
    if (!title.value) title.value = f.name.replace(/\.[^.]+$/, '');
    if (localStorage.getItem(remembered(f))) picked.textContent += ': its earlier upload resumes where it stopped.';
    go.disabled = false;
  };
  input.addEventListener('change', () => choose(input.files[0]));
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); choose(e.dataTransfer.files[0]); });

  let upload = null, stopped = false, timer = null;
  onLeave(() => { stopped = true; if (upload) upload.abort(); clearTimeout(timer); });

  const fail = (message) => { line.textContent = message; line.className = 'error'; go.disabled = false; };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!file) return;
    go.disabled = true;
    progress.hidden = false;
    line.className = '';
    line.textContent = 'Starting…';
    try {
      await script(config.scripts.tus);
      const job = await jobFor(file, { title: title.value.trim() || file.name, description: description.value, visibility: visibility.value });
      send(file, job);
    } catch (err) { fail(err.message); }
  });

  // jobFor answers the job this file's upload belongs to: the one remembered for it while
  // that job still waits for its bytes, else a new one.
  async function jobFor(f, meta) {
    const key = remembered(f);
    const saved = JSON.parse(localStorage.getItem(key) || 'null');
    if (saved) {
      try {
        const job = await gallery(`/jobs/${saved.jobId}`);
        if (job.status === 'pending') return { ...saved, resumed: true };
      } catch (err) { if (!(err instanceof APIError) || err.status === 0) throw err; }
      localStorage.removeItem(key);
    }
    const created = await gallery('/uploads', { method: 'POST', body: meta });
    const job = { jobId: created.jobId, videoId: created.videoId };
    localStorage.setItem(key, JSON.stringify(job));
    return job;
  }

  function send(f, job) {
    const rate = rateMeter();
    let start = null;
    upload = new window.tus.Upload(f, {
      endpoint: `${config.galleryApi}/tus`,
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      metadata: { jobId: String(job.jobId), filename: f.name, filetype: f.type || 'application/octet-stream' },
      headers: { Authorization: `Bearer ${token()}` },
      fingerprint: async () => `${remembered(f)}:${job.jobId}`,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        if (start === null) {
          start = sent;
          if (sent > 0) line.dataset.resumedAt = String(sent);
        }
        rate.add(sent);
        bar.max = total; bar.value = sent;
        const perSecond = rate.perSecond();
        line.textContent = `${start > 0 ? 'Resumed; uploading' : 'Uploading'} ${Math.floor((sent / total) * 100)}%`;
        stats.textContent = `${bytes(sent)} of ${bytes(total)}` +
          (perSecond > 0 ? ` · ${bytes(perSecond)}/s · ${clock((total - sent) / perSecond)} left` : '');
      },
      onError(err) {
        const status = err.originalResponse?.getStatus?.();
        fail(status === 409 ? 'This upload was already completed.' : `The upload stopped: ${err.message.split('\n')[0]}. Choose Upload to resume it.`);
      },
      onSuccess() { complete(f, job); },
    });
    upload.findPreviousUploads().then((previous) => {
      if (stopped) return;
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        line.textContent = 'Resuming where the upload stopped…';
      }
      upload.start();
    });
  }

  async function complete(f, job) {
    line.textContent = 'Checking the upload…';
    stats.textContent = '';
    try {
      await gallery(`/uploads/${job.jobId}/complete`, { method: 'POST' });
    } catch (err) { return fail(`The upload was refused: ${err.message}`); }
    localStorage.removeItem(remembered(f));
    follow(job);
  }

  // follow shows the job's progress until the video plays, then opens its watch page.
  async function follow(job) {
    if (stopped) return;
    try {
      const j = await gallery(`/jobs/${job.jobId}`);
      bar.max = 100; bar.value = j.progress || 0;
      line.dataset.job = j.status;
      if (j.status === 'failed') return fail(`Processing failed: ${j.error || 'unknown reason'}`);
      line.textContent = j.status === 'queued' ? 'Waiting for a transcoder…' : `Processing ${Math.round(j.progress || 0)}%`;
      stats.textContent = j.renditionsDone ? `${j.renditionsDone} rendition${j.renditionsDone === 1 ? '' : 's'} ready` : '';
      if (j.status === 'completed' || j.renditionsDone > 0) return navigate(`/watch/${job.videoId}`);
    } catch (err) {
      if (err instanceof APIError && err.status !== 0 && err.status !== 503) return fail(err.message);
    }
    timer = setTimeout(() => follow(job), 1000);
  }
}
