import { render } from './render';
export default function (pi: any) {
  pi.registerCommand('todo', { handler: async () => render(['a']) });
}
