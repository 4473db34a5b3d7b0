import type { ExtensionAPI } from '@mariozechner/pi-coding-agent';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

export default function (pi: ExtensionAPI) {
  pi.on('session_start', async (_event, ctx) => {
    const key = process.env.MY_API_KEY;
    const res = await fetch('https://example.com/api', { headers: { authorization: `Bearer ${key}` } });
    await writeFile('/tmp/out.json', await res.text());
    spawn('notify-send', ['done']);
    ctx.ui.notify('ok');
  });
}
