//! The SMTP client against a tiny SMTP sink in the test: the message
//! arrives with its From, To, subject and body, and a refused recipient
//! is a permanent error.

use keyzone_core::mail::{Mail, MailError, Mailer};
use keyzone_mail::{Endpoint, SmtpMailer, SmtpSettings};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Accepts one SMTP session; returns (envelope lines, data). `refuse_rcpt`
/// answers RCPT with a permanent error.
async fn sink(listener: TcpListener, refuse_rcpt: bool) -> (Vec<String>, String) {
    let (sock, _) = listener.accept().await.unwrap();
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let mut envelope = Vec::new();
    let mut data = String::new();
    w.write_all(b"220 sink\r\n").await.unwrap();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap() == 0 {
            break;
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "MAIL" => {
                envelope.push(line.trim().to_owned());
                b"250 ok\r\n"
            }
            "RCPT" if refuse_rcpt => b"550 no such user\r\n",
            "RCPT" => {
                envelope.push(line.trim().to_owned());
                b"250 ok\r\n"
            }
            "DATA" => {
                w.write_all(b"354 go\r\n").await.unwrap();
                loop {
                    let mut l = String::new();
                    r.read_line(&mut l).await.unwrap();
                    if l == ".\r\n" || l.is_empty() {
                        break;
                    }
                    data.push_str(&l);
                }
                b"250 queued\r\n"
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await.unwrap();
                break;
            }
            _ => b"250 ok\r\n",
        };
        w.write_all(answer).await.unwrap();
    }
    (envelope, data)
}

fn mailer(port: u16) -> SmtpMailer {
    SmtpMailer::new(&SmtpSettings {
        endpoint: Endpoint::parse(&format!("smtp://127.0.0.1:{port}")).unwrap(),
        from: "Keyzone <no-reply@example.com>".into(),
        username: None,
        password: None,
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn mail() -> Mail {
    Mail {
        to: "ada@example.com".into(),
        subject: "Your verification code".into(),
        text: "Your verification code is 123456\n".into(),
    }
}

#[tokio::test]
async fn a_message_reaches_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(sink(listener, false));
    mailer(port).send(&mail()).await.unwrap();
    let (envelope, data) = server.await.unwrap();
    assert_eq!(
        envelope,
        [
            "MAIL FROM:<no-reply@example.com>",
            "RCPT TO:<ada@example.com>"
        ]
    );
    assert!(data.contains("Subject: Your verification code"), "{data}");
    assert!(data.contains("To: ada@example.com"), "{data}");
    assert!(data.contains("Your verification code is 123456"), "{data}");
    // The Debug form of a mail never shows its body (it holds the code).
    assert!(!format!("{:?}", mail()).contains("123456"));
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(sink(listener, true));
    let err = mailer(port).send(&mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Refused(_)), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn no_server_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = mailer(port).send(&mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
}
