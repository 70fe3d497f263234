// The embed page: the player alone, for an <iframe>. ?key= plays an unlisted video,
// ?autoplay=0 waits for a click.
import { stream, APIError } from './api.js';
import { createPlayer } from './player.js';

const main = document.getElementById('main');
const params = new URLSearchParams(location.search);
const id = decodeURIComponent(location.pathname.split('/')[2] || '');
const key = params.get('key');
const player = createPlayer(main);

async function start() {
  try {
    const s = await stream(`/${encodeURIComponent(id)}${key ? `?key=${encodeURIComponent(key)}` : ''}`);
    await player.load(s.url, { autoplay: params.get('autoplay') !== '0' });
  } catch (e) {
    if (e instanceof APIError && e.status === 409) {
      player.message('This video is still processing. It plays as soon as it is ready.');
      setTimeout(start, 3000);
    } else if (e instanceof APIError && (e.status === 404 || e.status === 400)) {
      player.message('This video is not available.');
    } else {
      player.message('This video cannot be played right now.');
      setTimeout(start, 5000);
    }
  }
}
start();
