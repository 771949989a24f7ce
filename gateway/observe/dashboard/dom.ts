/** DOM helpers: every value from the API goes in as text, never parsed as HTML. */

/** The element with this id, checked to be of the expected kind. */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof kind)) throw new Error(`dashboard: #${id} is missing or not a ${kind.name}`);
  return el;
}

export function $(id: string): HTMLElement {
  return byId(id, HTMLElement);
}

export type AttrValue = string | number | boolean | null | undefined;
export interface Attrs {
  readonly [name: string]: AttrValue | ((e: MouseEvent) => void);
}
export type Child = Node | string | number | null | undefined | false;

/** h('td', {class: 'num'}, ['text', node]) : builds DOM without innerHTML. */
export function h(tag: string, attrs?: Attrs | null, children?: readonly Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (typeof v === 'function') {
        if (k === 'onclick') el.addEventListener('click', v);
      } else if (k === 'class') el.className = String(v);
      else if (k === 'width') el.style.width = String(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children ?? []) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Posts an admin action from a button, then refreshes (main.ts). */
export type Act = (button: HTMLButtonElement, path: string, body?: object) => Promise<void>;

export function actionButton(act: Act, label: string, cls: string, path: string, body?: object): HTMLElement {
  return h('button', {
    class: cls,
    type: 'button',
    'data-action': path,
    onclick: (e) => {
      if (e.currentTarget instanceof HTMLButtonElement) void act(e.currentTarget, path, body);
    },
  }, [label]);
}
