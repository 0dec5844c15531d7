// The upload page: drop files or pick them; each goes up by tus with its own
// progress, pause/resume and cancel, three at a time.
import { session } from './api.js';
import { uploads, addFiles, onUploadsChange, clearFinished } from './uploads.js';
import { h, clear, syncList, progressBar, setProgress, formatBytes, formatDuration } from './util.js';

const STATE_LABELS = {
  queued: 'Waiting',
  uploading: 'Uploading',
  paused: 'Paused',
  done: 'Uploaded · transcoding',
  failed: 'Stopped',
  cancelled: 'Cancelled',
};

export function mountUpload(root) {
  document.title = 'Upload · cdlc';
  const input = h('input', { type: 'file', id: 'file-input', accept: 'video/*,.mkv,.mov,.mp4,.webm', multiple: true, class: 'visually-hidden' });
  const drop = h('label.dropzone', { for: 'file-input', tabindex: '0' },
    h('div.dropzone-icon', { 'aria-hidden': 'true' }),
    h('strong', {}, 'Drop videos here'),
    h('span.muted', {}, 'or click to choose files · MP4, MOV, MKV, WebM'),
    input);
  const privateBox = h('input', { type: 'checkbox', id: 'upload-private' });
  const privacy = h('label.check', { for: 'upload-private' }, privateBox,
    h('span', {}, h('strong', {}, 'Private'), h('span.muted', {}, ' · its streams play only on signed URLs, which you and the admins get')));
  const encryptedBox = h('input', { type: 'checkbox', id: 'upload-encrypted' });
  const encryption = h('label.check', { for: 'upload-encrypted' }, encryptedBox,
    h('span', {}, h('strong', {}, 'Encrypted'), h('span.muted', {}, ' · HLS AES-128 and DASH CENC (ClearKey), keys only on signed URLs; private')));
  const add = (files) => addFiles(files, { private: privateBox.checked, encrypted: encryptedBox.checked });
  const signInNotice = h('div.notice', {});
  const list = h('ul.upload-list', { id: 'upload-list' });
  const clearButton = h('button.button.ghost.small', { type: 'button', onclick: clearFinished }, 'Clear finished');
  const listHead = h('div.row.between', {}, h('h2', {}, 'Uploads'), clearButton);

  root.append(
    h('div.page-head', {}, h('div', {}, h('h1', {}, 'Upload'), h('span.muted', {}, 'Resumable: pause, resume, or reload the page and drop the same file again.'))),
    signInNotice,
    drop,
    privacy,
    encryption,
    listHead,
    list,
  );

  function renderSignIn() {
    const signedIn = session.signedIn();
    const mayUpload = session.can('uploader');
    signInNotice.hidden = mayUpload;
    // A viewer sees no upload: the server would refuse it anyway.
    drop.hidden = signedIn && !mayUpload;
    privacy.hidden = signedIn && !mayUpload;
    encryption.hidden = signedIn && !mayUpload;
    drop.classList.toggle('disabled', !mayUpload);
    input.disabled = !mayUpload;
    if (signedIn) {
      clear(signInNotice, h('span', { id: 'upload-needs-role' }, 'Uploading needs the uploader role: ask an admin to give it to your account.'));
    } else {
      clear(signInNotice,
        h('span', {}, 'Uploading needs an account with the uploader role. '),
        h('button.button.small.primary', { type: 'button', onclick: () => window.dispatchEvent(new Event('cdlc:sign-in')) }, 'Sign in'));
    }
  }

  input.addEventListener('change', () => {
    if (input.files?.length) add([...input.files]);
    input.value = '';
  });
  drop.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      input.click();
    }
  });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      if (session.can('uploader')) drop.classList.add('over');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    drop.addEventListener(type, () => drop.classList.remove('over'));
  }
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    if (!session.can('uploader')) {
      if (!session.signedIn()) window.dispatchEvent(new Event('cdlc:sign-in'));
      return;
    }
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length) add(files);
  });

  const rows = new Map();
  function render() {
    listHead.hidden = uploads.length === 0;
    clearButton.hidden = !uploads.some((u) => ['done', 'cancelled'].includes(u.state));
    syncList(list, rows, uploads, { key: (upload) => upload.key, create: createRow, update: updateRow });
  }

  const offUploads = onUploadsChange(render);
  const offSession = session.onChange(renderSignIn);
  renderSignIn();
  render();
  return () => {
    offUploads();
    offSession();
  };
}

function createRow(upload) {
  const bar = progressBar(0, `Upload of ${upload.file.name}`);
  const status = h('span.upload-status', {});
  const numbers = h('span.muted.upload-numbers', {});
  const pause = h('button.button.small', { type: 'button', onclick: () => upload.pause() }, 'Pause');
  const resume = h('button.button.small.primary', { type: 'button', onclick: () => upload.resume() }, 'Resume');
  const cancel = h('button.button.small.ghost', { type: 'button', onclick: () => upload.cancel() }, 'Cancel');
  const open = h('a.button.small', { dataset: { link: '' } }, 'Open');
  const error = h('p.upload-error', {});
  const element = h('li.upload', { dataset: { file: upload.file.name } },
    h('div.upload-head', {},
      h('div.upload-name', {}, h('strong', {}, upload.file.name), h('span.muted', {}, formatBytes(upload.file.size)),
        upload.private ? h('span.badge.private', {}, 'Private') : null,
        upload.encrypted ? h('span.badge.encrypted', {}, 'Encrypted') : null),
      h('div.upload-actions', {}, pause, resume, open, cancel)),
    bar,
    h('div.row.between', {}, status, numbers),
    error);
  return { element, bar, status, numbers, pause, resume, cancel, open, error };
}

function updateRow(row, upload) {
  row.element.dataset.state = upload.state;
  setProgress(row.bar, upload.percent);
  row.status.textContent = STATE_LABELS[upload.state] ?? upload.state;
  const sent = `${formatBytes(upload.sent)} of ${formatBytes(upload.file.size)} · ${Math.floor(upload.percent)}%`;
  const eta = upload.state === 'uploading' && upload.rate > 0
    ? ` · ${formatBytes(upload.rate)}/s · ${formatDuration((upload.file.size - upload.sent) / upload.rate)} left`
    : '';
  row.numbers.textContent = sent + eta;
  row.pause.hidden = upload.state !== 'uploading';
  row.resume.hidden = !['paused', 'failed'].includes(upload.state);
  row.cancel.hidden = ['done', 'cancelled'].includes(upload.state);
  row.open.hidden = !upload.assetId || upload.state === 'cancelled';
  if (upload.assetId) row.open.setAttribute('href', `/assets/${upload.assetId}`);
  row.error.hidden = !upload.error;
  row.error.textContent = upload.error ?? '';
}
