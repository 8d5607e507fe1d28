import { useId, useRef, useState } from 'react';
import { plural } from '../app/format.ts';
import type { RequestDetail } from './words.ts';

type Attachment = RequestDetail['attachments'][number];

function sizeWords(bytes: number): string {
  if (bytes < 1024) return plural(bytes, { one: 'byte', other: 'bytes' });
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The document itself, in the page: a PDF in the browser's own viewer (an inline URL, under its file
 * name), an image as an image; every file can be opened in a tab of its own or saved under its name.
 */
export function DocumentPreview({ attachments, title }: { attachments: Attachment[]; title: string }) {
  const viewable = attachments.filter((attachment) => attachment.viewUrl !== null);
  const [shownId, setShownId] = useState(viewable[0]?.id);
  const pickerId = useId();
  const shown = viewable.find((attachment) => attachment.id === shownId) ?? viewable[0];
  // The URL the frame first loaded, kept: a later answer signs a new one each minute, and a new src
  // would reload the document under the reader's eyes (the one loaded needs no valid URL any more).
  const framed = useRef(new Map<number, string>());
  if (shown?.viewUrl && !framed.current.has(shown.id)) framed.current.set(shown.id, shown.viewUrl);
  const frameUrl = shown ? framed.current.get(shown.id) : undefined;
  return (
    <section className="detail-section" aria-labelledby="document-title">
      <h3 id="document-title">The document</h3>
      {viewable.length > 1 ? (
        <div className="field-inline preview-picker">
          <label htmlFor={pickerId}>Show</label>
          <select
            id={pickerId}
            value={shown?.id}
            onChange={(event) => setShownId(Number(event.target.value))}
          >
            {viewable.map((attachment) => (
              <option key={attachment.id} value={attachment.id}>
                {attachment.fileName}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      {shown?.viewUrl ? (
        // A phone's browser often shows no PDF inside a page: there, opening it is the way to read it.
        <a
          className="button button-primary phone-only-block"
          href={shown.viewUrl}
          target="_blank"
          rel="noopener"
        >
          Open {shown.fileName}
        </a>
      ) : null}
      {shown?.viewUrl ? (
        shown.contentType.startsWith('image/') ? (
          <img
            className="preview-image"
            src={shown.viewUrl}
            alt={`${shown.fileName}, the document ${title}`}
          />
        ) : (
          <iframe
            key={shown.id}
            className="preview-frame"
            src={frameUrl}
            title={`${shown.fileName}, the document ${title}`}
          />
        )
      ) : (
        <p className="muted">
          {attachments.length === 0
            ? 'No file came with it.'
            : 'No file of it can be shown in the page: save it to open it.'}
        </p>
      )}
      <ul className="request-files">
        {attachments.map((attachment) => (
          <li key={attachment.id}>
            <span className="file-name">{attachment.fileName}</span>
            <span className="cell-secondary">
              {attachment.contentType} · {sizeWords(attachment.sizeBytes)}
              {attachment.pages ? ` · ${plural(attachment.pages, { one: 'page', other: 'pages' })}` : ''}
            </span>
            <span className="file-links">
              {attachment.viewUrl ? (
                <a href={attachment.viewUrl} target="_blank" rel="noopener">
                  Open<span className="visually-hidden"> {attachment.fileName}</span> in a new tab
                </a>
              ) : null}
              <a href={attachment.downloadUrl} download={attachment.fileName}>
                Save<span className="visually-hidden"> {attachment.fileName}</span>
              </a>
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
