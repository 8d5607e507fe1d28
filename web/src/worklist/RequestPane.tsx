import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../app/api.ts';
import { formatDateTime, formatDay, plural } from '../app/format.ts';
import { useSignInAgain } from '../app/problems.tsx';
import { readClaims, useToken } from '../app/session.ts';
import { usePageTitle } from '../app/title.ts';
import { Button } from '../app/ui/Button.tsx';
import { Badge } from './Badge.tsx';
import { DocumentPreview } from './DocumentPreview.tsx';
import { facilitiesQuery, integrateRequest, rejectRequest, requestQuery, verifyRequest } from './queries.ts';
import { requestRoute } from './route.tsx';
import { confidenceWords, TraitTable } from './TraitTable.tsx';
import { VerifyDialog } from './VerifyDialog.tsx';
import { rowLinkSelector } from './WorklistTable.tsx';
import {
  FORMAT_WORDS,
  IDENTITY_STATUS_WORDS,
  IDENTITY_WORDS,
  INTEGRATION_WORDS,
  LISTENER_WORDS,
  patientName,
  RELIABILITY_WORDS,
  type RequestDetail,
  SOURCE_WORDS,
  STATUS_WORDS,
} from './words.ts';

/** One request beside the list: loading, failing, or the request itself. Escape closes it. */
export function RequestPane() {
  const { id } = requestRoute.useParams();
  const navigate = useNavigate();
  const request = useQuery(requestQuery(id));
  const close = () => {
    void navigate({ to: '/worklist', search: (previous) => previous }).then(() => {
      // Back where the keyboard left the list.
      document.querySelector<HTMLAnchorElement>(rowLinkSelector(id))?.focus();
    });
  };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'Escape' || event.defaultPrevented) return;
      // A dialog, or a field the key means something to, takes it first.
      if (document.querySelector('[role="alertdialog"]')) return;
      const target = event.target as HTMLElement | null;
      if (target?.closest('input, textarea, select')) return;
      event.preventDefault();
      close();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  });

  return (
    <section
      className="request-pane"
      aria-labelledby="request-title"
      aria-busy={request.isPending || undefined}
    >
      <div className="request-pane-bar">
        <Link to="/worklist" search={(previous) => previous} className="button button-quiet request-close">
          <span aria-hidden="true">← </span>
          <span className="phone-only">Back to the list</span>
          <span className="wide-only">Close</span>
        </Link>
        <span className="hint wide-only">Esc closes</span>
      </div>
      {request.isPending ? (
        <DetailSkeleton />
      ) : request.isError ? (
        <DetailProblem error={request.error} retry={() => void request.refetch()} />
      ) : (
        <Detail key={id} detail={request.data.data} />
      )}
    </section>
  );
}

function DetailSkeleton() {
  return (
    <div className="request-detail" aria-hidden="true">
      <h2 id="request-title" className="visually-hidden">
        Loading the document
      </h2>
      <span className="skeleton skeleton-title" />
      <span className="skeleton skeleton-wide" />
      <span className="skeleton" />
      <span className="skeleton skeleton-block" />
    </div>
  );
}

function DetailProblem({ error, retry }: { error: Error; retry: () => void }) {
  const signInAgain = useSignInAgain('expired');
  const status = error instanceof ApiError ? error.status : undefined;
  return (
    <div className="request-detail">
      <h2 id="request-title">
        {status === 404
          ? 'No such document'
          : status === 401
            ? 'Your sign-in has ended'
            : 'This document could not be loaded'}
      </h2>
      <p>{error instanceof ApiError ? (error.detail ?? error.title) : error.message}</p>
      <div className="form-actions">
        {status === 401 ? (
          <Button variant="primary" onClick={signInAgain}>
            Sign in again
          </Button>
        ) : status === 404 ? null : (
          <Button variant="primary" onClick={retry}>
            Try again
          </Button>
        )}
      </div>
    </div>
  );
}

type Feedback = { tone: 'success' | 'error'; text: string } | undefined;

function Detail({ detail }: { detail: RequestDetail }) {
  usePageTitle(`${detail.title} · Worklist`);
  const heading = useRef<HTMLHeadingElement>(null);
  const queryClient = useQueryClient();
  const token = useToken();
  const role = token ? readClaims(token)?.role : undefined;
  const mayAct = role === 'approver' || role === 'admin';
  const [feedback, setFeedback] = useState<Feedback>(undefined);
  const facilities = useQuery(facilitiesQuery);
  const facilityName =
    facilities.data?.data.facilities.find((facility) => facility.id === detail.facilityId)?.name ??
    detail.facilityId;

  // Opened: the reader (and a screen reader) starts at its title.
  useEffect(() => {
    heading.current?.focus({ preventScroll: false });
  }, []);

  // The request changed while open (its integration settled, polled): the list and the counts follow.
  const state = `${detail.status}/${detail.integration?.state}`;
  const integrationError = detail.integration?.error ?? 'no reason given';
  const seen = useRef(state);
  useEffect(() => {
    if (state === seen.current) return;
    seen.current = state;
    if (state.endsWith('/done')) {
      setFeedback({ tone: 'success', text: 'Integrated into the hospital’s record.' });
    } else if (state.endsWith('/failed')) {
      setFeedback({ tone: 'error', text: `Sending to the record failed: ${integrationError}` });
    }
    void queryClient.invalidateQueries({ queryKey: ['worklist'] });
    void queryClient.invalidateQueries({ queryKey: ['worklist-counts'] });
  }, [state, integrationError, queryClient]);

  const settled = async () => {
    // The button pressed is gone once the request changes: the keyboard starts again from the title.
    heading.current?.focus();
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: ['worklist'] }),
      queryClient.invalidateQueries({ queryKey: ['worklist-counts'] }),
      queryClient.invalidateQueries({ queryKey: ['worklist-request', detail.id] }),
    ]);
  };
  const failed = (what: string) => (error: Error) =>
    setFeedback({
      tone: 'error',
      text: `${what} failed: ${error instanceof ApiError ? (error.detail ?? error.title) : error.message}`,
    });

  const verify = useMutation({
    mutationFn: (input: { patientId: number; name: string; acknowledged: string[] }) =>
      verifyRequest(detail.id, input.patientId, input.acknowledged),
    onSuccess: async (_answer, input) => {
      setFeedback({ tone: 'success', text: `Verified: this document is ${input.name}’s.` });
      await settled();
    },
    onError: failed('Verifying'),
  });
  const integrate = useMutation({
    mutationFn: () => integrateRequest(detail.id),
    onSuccess: async () => {
      setFeedback({ tone: 'success', text: 'Sent to the hospital’s record: waiting for it to answer…' });
      await settled();
    },
    onError: failed('Sending to the record'),
  });
  const reject = useMutation({
    mutationFn: (reason: string) => rejectRequest(detail.id, reason),
    onSuccess: async () => {
      setFeedback({ tone: 'success', text: 'Rejected.' });
      await settled();
    },
    onError: failed('Rejecting'),
  });

  const status = STATUS_WORDS[detail.status];
  const identity = IDENTITY_WORDS[detail.identityCheck];
  const busyIntegrating = detail.integration?.state === 'queued' || detail.integration?.state === 'running';
  const canIntegrate = (detail.status === 'verified' || detail.status === 'error') && !busyIntegrating;
  const canReject = !['integrated', 'rejected', 'cancelled'].includes(detail.status) && !busyIntegrating;
  const canVerify =
    ['received', 'pending_verification', 'verified', 'error'].includes(detail.status) && !busyIntegrating;
  const matcherNote = detail.verifications.find((one) => one.verifiedBy === 'matcher')?.note;
  const reasons = [
    ...detail.mismatchReasons,
    ...(matcherNote && detail.identityCheck !== 'ok' ? [matcherNote] : []),
  ];

  return (
    <div className="request-detail">
      <div className="detail-head">
        <h2 id="request-title" ref={heading} tabIndex={-1}>
          {detail.title}
        </h2>
        <div className="badges">
          <Badge tone={status.tone}>{status.label}</Badge>
          <Badge tone={identity.tone}>{identity.label}</Badge>
          {detail.priority === 'urgent' ? <Badge tone="danger">Urgent</Badge> : null}
        </div>
      </div>
      <dl className="request-facts">
        <Fact label="Received">{formatDateTime(new Date(detail.receivedAt))}</Fact>
        <Fact label="From">
          {SOURCE_WORDS[detail.source]}
          {detail.message ? `, ${detail.message.sender}` : ''}
        </Fact>
        <Fact label="Type">
          {detail.documentType
            ? `${detail.documentType.label || 'LOINC'} (${detail.documentType.code})`
            : 'Not given'}
        </Fact>
        {detail.procedureDate ? (
          <Fact label="Procedure">{formatDay(detail.procedureDate, 'long')}</Fact>
        ) : null}
        <Fact label="Author">
          {detail.author
            ? `${detail.author.name}${detail.author.specialty ? `, ${detail.author.specialty}` : ''} (RPPS ${detail.author.nationalId})`
            : 'Not known'}
        </Fact>
        <Fact label="Arrived as">
          {FORMAT_WORDS[detail.format]}
          {detail.message ? ` through ${LISTENER_WORDS[detail.message.listener]}` : ''}
        </Fact>
        {detail.message?.subject ? <Fact label="Mail subject">{detail.message.subject}</Fact> : null}
        <Fact label="Facility">{facilityName}</Fact>
      </dl>

      {feedback ? (
        <p className={`notice notice-${feedback.tone}`} role={feedback.tone === 'error' ? 'alert' : 'status'}>
          {feedback.text}
        </p>
      ) : null}

      {reasons.length > 0 && canVerify ? (
        <div
          className={
            detail.identityCheck === 'mismatch' ? 'request-checks' : 'request-checks request-checks-todo'
          }
          role="note"
        >
          <h3>Check before verifying</h3>
          <ul>
            {reasons.map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        </div>
      ) : null}

      {mayAct && (canIntegrate || canReject) ? (
        <Actions
          canIntegrate={canIntegrate}
          canReject={canReject}
          integrating={integrate.isPending}
          rejecting={reject.isPending}
          onIntegrate={() => integrate.mutate()}
          onReject={(reason) => reject.mutate(reason)}
          retry={detail.status === 'error'}
        />
      ) : null}
      {!mayAct ? (
        <p className="hint">This token reads only: verifying and sending need an approver’s.</p>
      ) : null}

      <PatientSection
        detail={detail}
        canVerify={mayAct && canVerify}
        verifying={verify.isPending}
        reasons={reasons}
        onVerify={(patientId, name, acknowledged) => verify.mutate({ patientId, name, acknowledged })}
      />
      <DocumentPreview attachments={detail.attachments} title={detail.title} />
      <OtherFields detail={detail} />
      <Integration detail={detail} />
      <History detail={detail} />
    </div>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="request-fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Actions({
  canIntegrate,
  canReject,
  integrating,
  rejecting,
  onIntegrate,
  onReject,
  retry,
}: {
  canIntegrate: boolean;
  canReject: boolean;
  integrating: boolean;
  rejecting: boolean;
  onIntegrate: () => void;
  onReject: (reason: string) => void;
  retry: boolean;
}) {
  const [rejectOpen, setRejectOpen] = useState(false);
  const [reason, setReason] = useState('');
  const reasonId = useId();
  const reasonField = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (rejectOpen) reasonField.current?.focus();
  }, [rejectOpen]);
  return (
    <div className="request-actions">
      <div className="form-actions">
        {canIntegrate ? (
          <Button variant="primary" busy={integrating} onClick={onIntegrate}>
            {integrating ? 'Sending…' : retry ? 'Send to the record again' : 'Send to the record'}
          </Button>
        ) : null}
        {canReject && !rejectOpen ? (
          <Button onClick={() => setRejectOpen(true)} aria-expanded={false}>
            Reject…
          </Button>
        ) : null}
      </div>
      {rejectOpen ? (
        <form
          className="reject-form"
          onSubmit={(event) => {
            event.preventDefault();
            if (reason.trim()) onReject(reason.trim());
          }}
        >
          <div className="field">
            <label htmlFor={reasonId}>Why reject it?</label>
            <textarea
              id={reasonId}
              ref={reasonField}
              value={reason}
              maxLength={2000}
              rows={2}
              required
              onChange={(event) => setReason(event.target.value)}
              onKeyDown={(event) => {
                if (event.key === 'Escape') {
                  event.preventDefault();
                  setRejectOpen(false);
                }
              }}
            />
          </div>
          <div className="form-actions">
            <Button type="submit" className="button-danger" busy={rejecting} disabled={!reason.trim()}>
              Reject the document
            </Button>
            <Button variant="quiet" onClick={() => setRejectOpen(false)}>
              Cancel
            </Button>
          </div>
        </form>
      ) : null}
    </div>
  );
}

function PatientSection({
  detail,
  canVerify,
  verifying,
  reasons,
  onVerify,
}: {
  detail: RequestDetail;
  canVerify: boolean;
  verifying: boolean;
  reasons: string[];
  onVerify: (patientId: number, name: string, acknowledged: string[]) => void;
}) {
  const [confirming, setConfirming] = useState<number | undefined>(undefined);
  const patient = detail.patient;
  if (patient) {
    const name = patientName({
      firstName: patient.firstName,
      lastName: patient.usedLastName ?? patient.birthLastName,
    });
    return (
      <section className="detail-section" aria-labelledby="patient-title">
        <h3 id="patient-title">Patient: {name}</h3>
        <p className="card-sub">
          IPP {patient.ipp} · born {formatDay(patient.birthDate, 'long')} ·{' '}
          {IDENTITY_STATUS_WORDS[patient.identityStatus]}
          {detail.identityReliability
            ? ` · the sender says ${RELIABILITY_WORDS[detail.identityReliability]}`
            : ''}
        </p>
        <TraitTable traits={patient.traits} caption={`What the document says beside ${name}’s record`} />
        {patient.fhir ? (
          <p className="hint">
            The hospital’s FHIR server knows them as {patient.fhir.name ?? patient.fhir.id}
            {patient.fhir.birthDate ? `, born ${formatDay(patient.fhir.birthDate, 'long')}` : ''}.
          </p>
        ) : detail.enrichment.status === 'unavailable' ? (
          <p className="hint">The hospital’s FHIR server did not answer: this is the local record.</p>
        ) : null}
      </section>
    );
  }
  if (detail.status === 'rejected' || detail.status === 'cancelled') return null;
  const chosen = detail.candidates.find((candidate) => candidate.id === confirming);
  return (
    <section className="detail-section" aria-labelledby="patient-title">
      <h3 id="patient-title">Whose document is it?</h3>
      {detail.candidates.length === 0 ? (
        <p className="muted">
          {detail.extracted
            ? 'No patient of this facility resembles what the document says.'
            : 'The document names no patient that could be read.'}
        </p>
      ) : (
        <ol className="candidates">
          {detail.candidates.map((candidate, index) => {
            const name = patientName({
              firstName: candidate.firstName,
              lastName: candidate.usedLastName ?? candidate.birthLastName,
            });
            const differs = candidate.traits.filter((trait) => trait.agrees === false).length;
            return (
              <li key={candidate.id} className="candidate">
                <div className="candidate-head">
                  <h4>
                    {name}
                    <span className="cell-secondary">
                      IPP {candidate.ipp} · born {formatDay(candidate.birthDate, 'long')} ·{' '}
                      {Math.round(candidate.score * 100)} % match
                      {candidate.reasons.length > 0 ? `: ${candidate.reasons.join(', ')}` : ''}
                    </span>
                  </h4>
                  {canVerify ? (
                    <Button
                      variant={index === 0 ? 'primary' : 'secondary'}
                      busy={verifying && confirming === candidate.id}
                      onClick={() => setConfirming(candidate.id)}
                    >
                      This is the patient…
                    </Button>
                  ) : null}
                </div>
                <p
                  className={
                    differs > 0 ? 'candidate-verdict verdict-differs' : 'candidate-verdict verdict-agrees'
                  }
                >
                  {differs > 0
                    ? `${plural(differs, { one: 'trait differs', other: 'traits differ' })} from the document`
                    : 'Nothing the document says differs from this record'}
                </p>
                <TraitTable
                  traits={candidate.traits}
                  caption={`What the document says beside ${name}’s record`}
                />
              </li>
            );
          })}
        </ol>
      )}
      {chosen ? (
        <VerifyDialog
          open
          onOpenChange={(open) => {
            if (!open) setConfirming(undefined);
          }}
          patient={patientName({
            firstName: chosen.firstName,
            lastName: chosen.usedLastName ?? chosen.birthLastName,
          })}
          traits={chosen.traits}
          reasons={reasons}
          busy={verifying}
          onConfirm={(acknowledged) => {
            onVerify(
              chosen.id,
              patientName({
                firstName: chosen.firstName,
                lastName: chosen.usedLastName ?? chosen.birthLastName,
              }),
              acknowledged,
            );
            setConfirming(undefined);
          }}
        />
      ) : null}
    </section>
  );
}

const IDENTITY_FIELDS = new Set([
  'ins',
  'birthLastName',
  'usedLastName',
  'birthGivenNames',
  'firstBirthGivenName',
  'birthDate',
  'sex',
  'birthplaceCode',
  'ipp',
]);
const FIELD_WORDS: Record<string, string> = {
  insOid: 'INS kind (OID)',
  usedGivenName: 'Used given name',
  reliability: 'Identity reliability',
  documentId: 'Document id',
  setId: 'Document set id',
  versionNumber: 'Version',
  replacesDocumentId: 'Replaces document',
  documentTypeCode: 'Document type (LOINC)',
  documentTypeLabel: 'Document type, as written',
  title: 'Title',
  procedureDate: 'Procedure date',
  authorRpps: 'Author’s RPPS',
  authorName: 'Author',
  priority: 'Priority',
};

/** Everything else the reader took from the document, with where and how sure. */
function OtherFields({ detail }: { detail: RequestDetail }) {
  const fields = Object.entries(detail.extracted?.fields ?? {}).filter(
    ([name]) => !IDENTITY_FIELDS.has(name),
  );
  if (fields.length === 0) return null;
  return (
    <section className="detail-section" aria-labelledby="fields-title">
      <h3 id="fields-title">What else the document says</h3>
      <div className="table-frame">
        <table className="table fields-table">
          <caption className="visually-hidden">
            Fields read from the document, with where each was read
          </caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Value</th>
              <th scope="col">Read from</th>
            </tr>
          </thead>
          <tbody>
            {fields.map(([name, field]) => (
              <tr key={name}>
                <th scope="row">{FIELD_WORDS[name] ?? name}</th>
                <td className="trait-value">{String(field.value)}</td>
                <td className="source">
                  {field.source}
                  {confidenceWords(field.confidence) ? ` · ${confidenceWords(field.confidence)}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Integration({ detail }: { detail: RequestDetail }) {
  const integration = detail.integration;
  if (!integration) return null;
  return (
    <section className="detail-section" aria-labelledby="integration-title">
      <h3 id="integration-title">The hospital’s record</h3>
      <dl className="request-facts">
        <Fact label="State">
          <span role="status">{INTEGRATION_WORDS[integration.state]}</span>
        </Fact>
        <Fact label="Attempts">
          {plural(integration.attempts, { one: 'attempt', other: 'attempts' })}; a failure the record may
          recover from is retried {plural(integration.retryLimit, { one: 'time', other: 'times' })}
        </Fact>
        {integration.error ? <Fact label="Last error">{integration.error}</Fact> : null}
        {integration.integratedAt ? (
          <Fact label="Integrated">{formatDateTime(new Date(integration.integratedAt))}</Fact>
        ) : null}
        {integration.ehrDocumentReference ? (
          <Fact label="In the record as">
            <code>{integration.ehrDocumentReference}</code>
          </Fact>
        ) : null}
      </dl>
    </section>
  );
}

const KIND_WORDS = {
  identity: 'Identity',
  procedure_date: 'Procedure date',
  document_type: 'Document type',
} as const;
const MATCHER_WORDS = {
  ok: 'Automatic matching confirmed the identity',
  mismatch: 'Automatic matching found the identity differs',
  pending: 'Automatic matching found no sure match: left to a person',
} as const;
const PERSON_WORDS = { ok: 'confirmed', mismatch: 'found to differ', pending: 'left open' } as const;

/** What happened to the request, newest first. */
function History({ detail }: { detail: RequestDetail }) {
  const events: Array<{ at: string; text: ReactNode; key: string }> = [
    {
      at: detail.receivedAt,
      key: 'received',
      text: `Received${detail.message ? ` from ${detail.message.sender} through ${LISTENER_WORDS[detail.message.listener]}` : ''}`,
    },
    ...detail.verifications.map((verification) => ({
      at: verification.verifiedAt,
      key: `verification-${verification.id}`,
      text: (
        <>
          {verification.verifiedBy === 'matcher' && verification.kind === 'identity' ? (
            MATCHER_WORDS[verification.outcome]
          ) : (
            <>
              {KIND_WORDS[verification.kind]} {PERSON_WORDS[verification.outcome]} by{' '}
              <strong>{verification.verifiedBy}</strong>
            </>
          )}
          {verification.note ? <span className="cell-secondary">{verification.note}</span> : null}
        </>
      ),
    })),
    ...(detail.rejection
      ? [
          {
            at: detail.rejection.at,
            key: 'rejection',
            text: (
              <>
                Rejected by <strong>{detail.rejection.by}</strong>
                <span className="cell-secondary">{detail.rejection.reason}</span>
              </>
            ),
          },
        ]
      : []),
    ...(detail.cancellation
      ? [
          {
            at: detail.cancellation.at,
            key: 'cancellation',
            text: `Cancelled by its sender: ${detail.cancellation.reason}`,
          },
        ]
      : []),
    ...(detail.integration?.integratedAt
      ? [
          {
            at: detail.integration.integratedAt,
            key: 'integrated',
            text: 'Integrated into the hospital’s record',
          },
        ]
      : []),
  ].sort((a, b) => b.at.localeCompare(a.at));
  return (
    <section className="detail-section" aria-labelledby="history-title">
      <h3 id="history-title">History</h3>
      <ol className="request-history">
        {events.map((event) => (
          <li key={event.key}>
            <time dateTime={event.at}>{formatDateTime(new Date(event.at))}</time>
            <span>{event.text}</span>
          </li>
        ))}
      </ol>
      {detail.replaces ? (
        <p className="hint">
          Replaces{' '}
          <Link to="/worklist/$id" params={{ id: detail.replaces.id }} search={(previous) => previous}>
            request {detail.replaces.id}
          </Link>{' '}
          ({STATUS_WORDS[detail.replaces.status].label.toLowerCase()}).
        </p>
      ) : null}
      {detail.replacedBy ? (
        <p className="hint">
          Replaced by{' '}
          <Link to="/worklist/$id" params={{ id: detail.replacedBy }} search={(previous) => previous}>
            request {detail.replacedBy}
          </Link>
          .
        </p>
      ) : null}
      {detail.message ? (
        <p className="hint">
          <a href={detail.message.downloadUrl}>The message as received</a> ({detail.message.contentType},{' '}
          {plural(detail.message.sizeBytes, { one: 'byte', other: 'bytes' })})
        </p>
      ) : null}
    </section>
  );
}
