// The settings the gallery writes into every page: where the APIs are, how to sign in.
export const config = JSON.parse(document.getElementById('vf-config').textContent);
